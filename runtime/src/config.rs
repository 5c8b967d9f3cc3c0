//! Settings: the defaults in `config/default.toml`, then environment variables, then flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../config/default.toml");

#[derive(Parser, Debug)]
#[command(name = "runtime", version, about = "Messaging HTTP API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API over HTTP on the embedded store, until SIGINT or SIGTERM.
    Serve(ServeArgs),
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML file to use instead of the built-in defaults (same keys as config/default.toml).
    #[arg(long, env = "MESSAGING_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port).
    #[arg(long, env = "MESSAGING_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store and the generated server key.
    #[arg(long, env = "MESSAGING_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Secret for tokens and cursors, 64 hex characters.
    #[arg(long, env = "MESSAGING_TOKEN_KEY", hide_env_values = true)]
    pub token_key: Option<String>,
    /// Maximum members per group.
    #[arg(long, env = "MESSAGING_MAX_GROUP_SIZE")]
    pub max_group_size: Option<usize>,
    /// Page cache of the embedded store, in MiB.
    #[arg(long, env = "MESSAGING_CACHE_MB")]
    pub cache_mb: Option<usize>,
    /// Sustained requests per second per user (0 disables rate limiting).
    #[arg(long, env = "MESSAGING_RATE_LIMIT_PER_SECOND")]
    pub rate_limit_per_second: Option<u32>,
    /// Requests a user may make in a burst.
    #[arg(long, env = "MESSAGING_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// Log format.
    #[arg(long, env = "MESSAGING_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

#[derive(Clone, Copy, Debug, Deserialize, ValueEnum, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub token_key: String,
    pub max_group_size: usize,
    pub cache_mb: usize,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub log_format: LogFormat,
}

impl Settings {
    /// The built-in defaults alone.
    pub fn defaults() -> Self {
        toml::from_str(DEFAULTS).expect("config/default.toml is valid")
    }

    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let mut settings = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => Self::defaults(),
        };
        macro_rules! overlay {
            ($($field:ident),*) => { $(if let Some(value) = args.$field { settings.$field = value; })* };
        }
        overlay!(
            listen,
            data_dir,
            token_key,
            max_group_size,
            cache_mb,
            rate_limit_per_second,
            rate_limit_burst,
            log_format
        );
        anyhow::ensure!(settings.max_group_size >= 1, "max_group_size must be at least 1");
        anyhow::ensure!(settings.cache_mb >= 1, "cache_mb must be at least 1");
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_flags_override_them() {
        let defaults = Settings::defaults();
        assert_eq!(defaults.max_group_size, 1000);
        let settings = Settings::resolve(ServeArgs { max_group_size: Some(3), ..Default::default() }).unwrap();
        assert_eq!(settings.max_group_size, 3);
        assert_eq!(settings.listen, defaults.listen);
        assert!(Settings::resolve(ServeArgs { max_group_size: Some(0), ..Default::default() }).is_err());
    }
}
