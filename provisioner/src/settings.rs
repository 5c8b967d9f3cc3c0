//! Deployment settings: `config/deploy.toml` (or `--config FILE`), then flags.

use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::stack::StackName;

/// The copy of `config/deploy.toml` built into the binary, used when no file is found, so the
/// provisioner also runs outside a checkout.
const BUILT_IN: &str = include_str!("../../config/deploy.toml");
pub const DEFAULT_PATH: &str = "config/deploy.toml";

/// The retention periods CloudWatch Logs accepts, in days.
const LOG_RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

#[derive(Clone, Debug, Deserialize, PartialEq, serde::Serialize)]
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
    pub feed_ttl_days: u32,
    pub point_in_time_recovery: bool,
}

/// The flags that override [`DeploySettings`], one per key.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SettingFlags {
    /// Lambda memory in MB (128 to 10,240); CPU grows with it.
    #[arg(long)]
    pub memory_mb: Option<i32>,
    /// Lambda timeout in seconds (1 to 900; API Gateway answers 504 after 30 s anyway).
    #[arg(long)]
    pub timeout_seconds: Option<i32>,
    /// Reserved concurrency of the function, or `none`.
    #[arg(long, value_parser = parse_concurrency)]
    pub reserved_concurrency: Option<Concurrency>,
    /// Days CloudWatch keeps the function's logs (one of CloudWatch's allowed values).
    #[arg(long)]
    pub log_retention_days: Option<u32>,
    /// Steady requests per second the HTTP API stage admits.
    #[arg(long)]
    pub throttling_rate: Option<f64>,
    /// Burst of requests the HTTP API stage admits.
    #[arg(long)]
    pub throttling_burst: Option<i32>,
    /// Days feed entries are kept (0: forever).
    #[arg(long)]
    pub feed_ttl_days: Option<u32>,
    /// Point-in-time recovery of both tables.
    #[arg(long)]
    pub point_in_time_recovery: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concurrency(pub Option<i32>);

fn parse_concurrency(value: &str) -> Result<Concurrency, String> {
    match value {
        "none" => Ok(Concurrency(None)),
        n => n.parse().map(|n| Concurrency(Some(n))).map_err(|_| format!("'{n}' is neither a number nor 'none'")),
    }
}

impl DeploySettings {
    /// Reads `path`; the default path falls back to the built-in copy when it does not exist.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && path == Path::new(DEFAULT_PATH) => {
                BUILT_IN.to_owned()
            }
            Err(e) => return Err(Error::Config(format!("cannot read {}: {e}", path.display()))),
        };
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))
    }

    pub fn apply(mut self, flags: &SettingFlags) -> Result<Self, Error> {
        let f = flags.clone();
        self.memory_mb = f.memory_mb.unwrap_or(self.memory_mb);
        self.timeout_seconds = f.timeout_seconds.unwrap_or(self.timeout_seconds);
        if let Some(Concurrency(n)) = f.reserved_concurrency {
            self.reserved_concurrency = n;
        }
        self.log_retention_days = f.log_retention_days.unwrap_or(self.log_retention_days);
        self.throttling_rate = f.throttling_rate.unwrap_or(self.throttling_rate);
        self.throttling_burst = f.throttling_burst.unwrap_or(self.throttling_burst);
        self.feed_ttl_days = f.feed_ttl_days.unwrap_or(self.feed_ttl_days);
        self.point_in_time_recovery = f.point_in_time_recovery.unwrap_or(self.point_in_time_recovery);
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |key: &str, why: &str| Err(Error::Config(format!("{key}: {why}")));
        if !(128..=10_240).contains(&self.memory_mb) {
            return bad("memory_mb", "must be from 128 to 10240");
        }
        if !(1..=900).contains(&self.timeout_seconds) {
            return bad("timeout_seconds", "must be from 1 to 900");
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
        self.stack.parse::<StackName>().map_err(Error::Config)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_file_parses_and_flags_override_it() {
        let settings: DeploySettings = toml::from_str(BUILT_IN).unwrap();
        assert_eq!(
            (settings.memory_mb, settings.reserved_concurrency, settings.point_in_time_recovery),
            (128, None, true)
        );
        let flags = SettingFlags {
            memory_mb: Some(256),
            reserved_concurrency: Some(Concurrency(Some(5))),
            ..SettingFlags::default()
        };
        let changed = settings.clone().apply(&flags).unwrap();
        assert_eq!((changed.memory_mb, changed.reserved_concurrency), (256, Some(5)));
        let none = changed.apply(&SettingFlags { reserved_concurrency: Some(Concurrency(None)), ..Default::default() });
        assert_eq!(none.unwrap().reserved_concurrency, None);
    }

    #[test]
    fn bad_settings_name_their_key() {
        let settings: DeploySettings = toml::from_str(BUILT_IN).unwrap();
        let error = settings.apply(&SettingFlags { log_retention_days: Some(10), ..Default::default() }).unwrap_err();
        assert!(error.to_string().contains("log_retention_days"), "{error}");
        let unknown = toml::from_str::<DeploySettings>(&format!("{BUILT_IN}\nmemroy_mb = 3\n")).unwrap_err();
        assert!(unknown.message().contains("memroy_mb"), "{unknown}");
    }
}
