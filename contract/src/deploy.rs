//! The deploy settings (`config/deploy.toml`): read by the provisioner to deploy, and by the cost
//! model for the memory size, point-in-time recovery and log retention it prices.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The repository's `config/deploy.toml`, built in, so the provisioner also runs outside a checkout.
pub const BUILT_IN: &str = include_str!("../../config/deploy.toml");

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySettings {
    pub stack: String,
    pub memory_mb: i32,
    pub timeout_seconds: i32,
    #[serde(default)]
    pub reserved_concurrency: Option<i32>,
    pub log_retention_days: u32,
    pub throttling_rate: f64,
    pub throttling_burst: i32,
    /// Each unauthenticated route's own throttle ([`crate::edge::UNAUTHENTICATED_ROUTES`]).
    #[serde(default = "unauthenticated_rate")]
    pub unauthenticated_throttling_rate: f64,
    #[serde(default = "unauthenticated_burst")]
    pub unauthenticated_throttling_burst: i32,
    /// The HTTP API stage's access log ([`crate::edge::ACCESS_LOG_FORMAT`]) in its own log group.
    #[serde(default = "on")]
    pub access_logs: bool,
    pub feed_ttl_days: u32,
    pub point_in_time_recovery: bool,
    /// Each table's on-demand maximum throughput (`OnDemandThroughput`), read and write request
    /// units per second; 0: no maximum but the account's table quota.
    #[serde(default)]
    pub table_max_read_units: i64,
    #[serde(default)]
    pub table_max_write_units: i64,
    /// Who creates users: `app` (the app's backend or identity provider) or `open`.
    #[serde(default = "app_mode")]
    pub auth_mode: String,
    #[serde(default = "an_hour")]
    pub access_token_ttl_secs: u64,
    /// The app's identity provider (see the runtime's settings of the same names); empty: none.
    #[serde(default)]
    pub jwt_jwks_url: String,
    #[serde(default)]
    pub jwt_issuer: String,
    #[serde(default)]
    pub jwt_audience: String,
    #[serde(default = "name_claim")]
    pub jwt_name_claim: String,
}

fn unauthenticated_rate() -> f64 {
    20.0
}

fn unauthenticated_burst() -> i32 {
    40
}

fn on() -> bool {
    true
}

fn app_mode() -> String {
    "app".into()
}

fn an_hour() -> u64 {
    3600
}

fn name_claim() -> String {
    "name".into()
}

/// A setting out of its range: which, and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key}: {why}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub why: String,
}

impl DeploySettings {
    /// Parses a file's text; errors name the key.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_owned())
    }

    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let bad = |key: &'static str, why: &str| Err(InvalidSetting { key, why: why.to_owned() });
        if !(128..=10_240).contains(&self.memory_mb) {
            return bad("memory_mb", "must be from 128 to 10240");
        }
        if !(crate::limits::MIN_FUNCTION_TIMEOUT_SECS..=900).contains(&self.timeout_seconds) {
            return bad(
                "timeout_seconds",
                "must be from 3 to 900: every request is answered half a second before it, after its store \
                 operations and the pushes of a send (1 s), so a shorter one leaves them no time",
            );
        }
        if self.reserved_concurrency.is_some_and(|n| n < 0) {
            return bad("reserved_concurrency", "must be 0 or more (0 stops the function), or left out");
        }
        if !LOG_RETENTION_DAYS.contains(&self.log_retention_days) {
            return bad("log_retention_days", &format!("must be one of CloudWatch's values {LOG_RETENTION_DAYS:?}"));
        }
        if !(self.throttling_rate.is_finite() && self.throttling_rate >= 0.0) {
            return bad("throttling_rate", "must be a number of requests per second, 0 or more");
        }
        if self.throttling_burst < 0 {
            return bad("throttling_burst", "must be 0 or more");
        }
        if !(self.unauthenticated_throttling_rate.is_finite() && self.unauthenticated_throttling_rate >= 0.0) {
            return bad("unauthenticated_throttling_rate", "must be a number of requests per second, 0 or more");
        }
        if self.unauthenticated_throttling_burst < 0 {
            return bad("unauthenticated_throttling_burst", "must be 0 or more");
        }
        for (key, units) in
            [("table_max_read_units", self.table_max_read_units), ("table_max_write_units", self.table_max_write_units)]
        {
            if units < 0 {
                return bad(key, "must be 0 (no maximum) or a number of request units per second");
            }
        }
        if !matches!(self.auth_mode.as_str(), "app" | "open") {
            return bad("auth_mode", "must be \"app\" or \"open\"");
        }
        if self.access_token_ttl_secs == 0 {
            return bad("access_token_ttl_secs", "must be at least 1");
        }
        if !self.jwt_jwks_url.is_empty() && (self.jwt_issuer.is_empty() || self.jwt_audience.is_empty()) {
            return bad("jwt_jwks_url", "needs jwt_issuer and jwt_audience: a provider signs other apps' tokens too");
        }
        if !self.jwt_jwks_url.is_empty() && !self.jwt_jwks_url.starts_with("https://") {
            return bad("jwt_jwks_url", "must be an https URL");
        }
        self.stack.parse::<StackName>().map_err(|e| InvalidSetting { key: "stack", why: e.to_string() })?;
        Ok(())
    }
}

/// Longest stack name: the longest resource name built from it (`<stack>-api-role`, an IAM role,
/// at most 64 characters) must fit every service's limit with room to spare.
const MAX_STACK_LEN: usize = 32;

/// A stack name that every AWS service accepts inside its resource names: ECR repositories want
/// lower case, IAM roles and Lambda functions at most 64 characters, DynamoDB tables and log
/// groups a restricted alphabet. Lower-case letters, digits and single dashes, starting with a
/// letter, satisfy all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid stack name '{0}': use 1 to {MAX_STACK_LEN} lower-case letters, digits and single dashes, starting with a \
     letter and not ending with a dash"
)]
pub struct InvalidStackName(pub String);

impl FromStr for StackName {
    type Err = InvalidStackName;

    fn from_str(name: &str) -> Result<Self, InvalidStackName> {
        let valid = (1..=MAX_STACK_LEN).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-')
            && !name.contains("--");
        if valid { Ok(Self(name.to_owned())) } else { Err(InvalidStackName(name.to_owned())) }
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StackName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_file_parses_and_is_valid() {
        let settings = DeploySettings::parse(BUILT_IN).unwrap();
        assert_eq!(
            (settings.memory_mb, settings.reserved_concurrency, settings.point_in_time_recovery),
            (128, None, true)
        );
        assert_eq!(settings.validate(), Ok(()));
        let error = DeploySettings { log_retention_days: 10, ..settings.clone() }.validate().unwrap_err();
        assert_eq!(error.key, "log_retention_days");
        let error = DeploySettings { timeout_seconds: 2, ..settings.clone() }.validate().unwrap_err();
        assert_eq!(error.key, "timeout_seconds");
        assert_eq!(DeploySettings { timeout_seconds: 3, ..settings.clone() }.validate(), Ok(()));
        let error = DeploySettings { stack: "Bad".into(), ..settings }.validate().unwrap_err();
        assert!(error.to_string().starts_with("stack: invalid stack name 'Bad'"), "{error}");
        let unknown = DeploySettings::parse(&format!("{BUILT_IN}\nmemroy_mb = 3\n")).unwrap_err();
        assert!(unknown.contains("memroy_mb"), "{unknown}");
    }
}
