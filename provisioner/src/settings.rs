//! Deployment settings: `config/deploy.toml` (or `--config FILE`), then flags. The file's schema
//! and its validation are the contract's ([`contract::deploy`]), shared with the cost report.

use std::path::Path;

use contract::deploy::BUILT_IN;
pub use contract::deploy::DeploySettings;

use crate::error::Error;

pub const DEFAULT_PATH: &str = "config/deploy.toml";

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
    /// Steady requests per second each unauthenticated route admits.
    #[arg(long)]
    pub unauthenticated_throttling_rate: Option<f64>,
    /// Burst each unauthenticated route admits.
    #[arg(long)]
    pub unauthenticated_throttling_burst: Option<i32>,
    /// The HTTP API stage's access log.
    #[arg(long)]
    pub access_logs: Option<bool>,
    /// Days feed entries are kept (0: forever).
    #[arg(long)]
    pub feed_ttl_days: Option<u32>,
    /// Point-in-time recovery of both tables.
    #[arg(long)]
    pub point_in_time_recovery: Option<bool>,
    /// Each table's on-demand maximum read request units per second (0: none).
    #[arg(long)]
    pub table_max_read_units: Option<i64>,
    /// Each table's on-demand maximum write request units per second (0: none).
    #[arg(long)]
    pub table_max_write_units: Option<i64>,
    /// Who creates users: app (the app's backend or identity provider) or open.
    #[arg(long)]
    pub auth_mode: Option<String>,
    /// Seconds an access token is valid.
    #[arg(long)]
    pub access_token_ttl_secs: Option<u64>,
    /// The app's identity provider's JWKS (https).
    #[arg(long)]
    pub jwt_jwks_url: Option<String>,
    /// The identity tokens' issuer (iss).
    #[arg(long)]
    pub jwt_issuer: Option<String>,
    /// The identity tokens' audience (aud).
    #[arg(long)]
    pub jwt_audience: Option<String>,
    /// The identity token claim that names the user.
    #[arg(long)]
    pub jwt_name_claim: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concurrency(pub Option<i32>);

fn parse_concurrency(value: &str) -> Result<Concurrency, String> {
    match value {
        "none" => Ok(Concurrency(None)),
        n => n.parse().map(|n| Concurrency(Some(n))).map_err(|_| format!("'{n}' is neither a number nor 'none'")),
    }
}

/// Reads `path`, applies `flags` and validates the result. The default path falls back to the
/// built-in copy when it does not exist, so the provisioner also runs outside a checkout.
pub fn load_settings(path: &Path, flags: &SettingFlags) -> Result<DeploySettings, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path == Path::new(DEFAULT_PATH) => BUILT_IN.to_owned(),
        Err(e) => return Err(Error::Config(format!("cannot read {}: {e}", path.display()))),
    };
    let settings = DeploySettings::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    apply(settings, flags)
}

/// `settings` with each flag that is set put over its key, validated.
pub fn apply(mut settings: DeploySettings, flags: &SettingFlags) -> Result<DeploySettings, Error> {
    let f = flags.clone();
    settings.memory_mb = f.memory_mb.unwrap_or(settings.memory_mb);
    settings.timeout_seconds = f.timeout_seconds.unwrap_or(settings.timeout_seconds);
    if let Some(Concurrency(n)) = f.reserved_concurrency {
        settings.reserved_concurrency = n;
    }
    settings.log_retention_days = f.log_retention_days.unwrap_or(settings.log_retention_days);
    settings.throttling_rate = f.throttling_rate.unwrap_or(settings.throttling_rate);
    settings.throttling_burst = f.throttling_burst.unwrap_or(settings.throttling_burst);
    settings.unauthenticated_throttling_rate =
        f.unauthenticated_throttling_rate.unwrap_or(settings.unauthenticated_throttling_rate);
    settings.unauthenticated_throttling_burst =
        f.unauthenticated_throttling_burst.unwrap_or(settings.unauthenticated_throttling_burst);
    settings.access_logs = f.access_logs.unwrap_or(settings.access_logs);
    settings.feed_ttl_days = f.feed_ttl_days.unwrap_or(settings.feed_ttl_days);
    settings.point_in_time_recovery = f.point_in_time_recovery.unwrap_or(settings.point_in_time_recovery);
    settings.table_max_read_units = f.table_max_read_units.unwrap_or(settings.table_max_read_units);
    settings.table_max_write_units = f.table_max_write_units.unwrap_or(settings.table_max_write_units);
    settings.auth_mode = f.auth_mode.unwrap_or(settings.auth_mode);
    settings.access_token_ttl_secs = f.access_token_ttl_secs.unwrap_or(settings.access_token_ttl_secs);
    settings.jwt_jwks_url = f.jwt_jwks_url.unwrap_or(settings.jwt_jwks_url);
    settings.jwt_issuer = f.jwt_issuer.unwrap_or(settings.jwt_issuer);
    settings.jwt_audience = f.jwt_audience.unwrap_or(settings.jwt_audience);
    settings.jwt_name_claim = f.jwt_name_claim.unwrap_or(settings.jwt_name_claim);
    settings.validate().map_err(|e| Error::Config(e.to_string()))?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_built_in_file() {
        let settings = DeploySettings::parse(BUILT_IN).unwrap();
        let flags = SettingFlags {
            memory_mb: Some(256),
            reserved_concurrency: Some(Concurrency(Some(5))),
            ..SettingFlags::default()
        };
        let changed = apply(settings, &flags).unwrap();
        assert_eq!((changed.memory_mb, changed.reserved_concurrency), (256, Some(5)));
        let none =
            apply(changed, &SettingFlags { reserved_concurrency: Some(Concurrency(None)), ..Default::default() });
        assert_eq!(none.unwrap().reserved_concurrency, None);
    }

    #[test]
    fn bad_settings_name_their_key() {
        let settings = DeploySettings::parse(BUILT_IN).unwrap();
        let error = apply(settings, &SettingFlags { log_retention_days: Some(10), ..Default::default() }).unwrap_err();
        assert!(error.to_string().contains("log_retention_days"), "{error}");
        let unknown = DeploySettings::parse(&format!("{BUILT_IN}\nmemroy_mb = 3\n")).unwrap_err();
        assert!(unknown.contains("memroy_mb"), "{unknown}");
    }
}
