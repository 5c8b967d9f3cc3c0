//! Settings: the defaults in `config/default.toml`, then environment variables, then flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use contract::env::var;
use serde::Deserialize;

use crate::domain::{Rule, RuleLimits};

mod limits;

pub use self::limits::LimitArgs;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Parser, Debug)]
#[command(name = "runtime", version, about = "Messaging HTTP API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API over HTTP, until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Create the DynamoDB tables named by the settings (on-demand), and wait until they are active.
    CreateTables(ServeArgs),
    /// Print the server API's key (for the app's backend), creating the key ring if needed.
    ServerKey(ServeArgs),
    /// The key ring in data_dir/keys.json.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the OpenAPI document the server serves at /openapi.json (the TypeScript client's
    /// types are generated from it).
    Openapi,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new signing key: it signs from now on, the older ones verify until their tokens
    /// have expired. Nobody is logged out and cursors stay valid. Restart the server after it.
    Rotate(ServeArgs),
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML file to use instead of the built-in defaults (same keys as config/default.toml).
    #[arg(long, env = var::CONFIG)]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port).
    #[arg(long, env = var::LISTEN)]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store and the generated server key.
    #[arg(long, env = var::DATA_DIR)]
    pub data_dir: Option<PathBuf>,
    /// One key for tokens and cursors instead of the key ring, 64 hex characters.
    #[arg(long, env = var::TOKEN_KEY, hide_env_values = true)]
    pub token_key: Option<String>,
    /// The AWS Secrets Manager secret (ARN or name) holding the key ring, instead of data_dir's.
    #[arg(long, env = var::KEY_RING_SECRET)]
    pub key_ring_secret: Option<String>,
    /// The version of that secret to read (empty: the current one).
    #[arg(long, env = var::KEY_RING_VERSION)]
    pub key_ring_version: Option<String>,
    /// The server API's key ("sk_" and 64 hex characters) instead of the ring's.
    #[arg(long, env = var::SERVER_KEY, hide_env_values = true)]
    pub server_key: Option<String>,
    /// Who may create users: anyone (open) or only the app, through the server API (app).
    #[arg(long, env = var::AUTH_MODE)]
    pub auth_mode: Option<AuthMode>,
    /// Seconds an access token is valid.
    #[arg(long, env = var::ACCESS_TOKEN_TTL_SECS)]
    pub access_token_ttl_secs: Option<u64>,
    /// Days a refresh token is valid after it is issued.
    #[arg(long, env = var::REFRESH_TOKEN_TTL_DAYS)]
    pub refresh_token_ttl_days: Option<u32>,
    /// The app's identity provider's JWKS (https; http only to loopback).
    #[arg(long, env = var::JWT_JWKS_URL)]
    pub jwt_jwks_url: Option<String>,
    /// Shared secret of HS256 identity tokens (at least 32 bytes).
    #[arg(long, env = var::JWT_HS256_SECRET, hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,
    /// The identity tokens' issuer (iss).
    #[arg(long, env = var::JWT_ISSUER)]
    pub jwt_issuer: Option<String>,
    /// The identity tokens' audience (aud): this app's id at the provider.
    #[arg(long, env = var::JWT_AUDIENCE)]
    pub jwt_audience: Option<String>,
    /// The identity token claim that names the user.
    #[arg(long, env = var::JWT_NAME_CLAIM)]
    pub jwt_name_claim: Option<String>,
    /// Seconds of clock skew allowed to an identity token's exp and nbf.
    #[arg(long, env = var::JWT_LEEWAY_SECS)]
    pub jwt_leeway_secs: Option<u64>,
    /// Maximum members per group.
    #[arg(long, env = var::MAX_GROUP_SIZE)]
    pub max_group_size: Option<usize>,
    /// Page cache of the embedded store, in MiB.
    #[arg(long, env = var::CACHE_MB)]
    pub cache_mb: Option<usize>,
    /// Sustained requests per second per user (0 disables rate limiting).
    #[arg(long, env = var::RATE_LIMIT_PER_SECOND)]
    pub rate_limit_per_second: Option<u32>,
    /// Requests a user may make in a burst.
    #[arg(long, env = var::RATE_LIMIT_BURST)]
    pub rate_limit_burst: Option<u32>,
    /// Seconds a client has to send a request's headers.
    #[arg(long, env = var::HEADER_READ_TIMEOUT_SECS)]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = var::BODY_READ_TIMEOUT_SECS)]
    pub body_read_timeout_secs: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, env = var::IDLE_TIMEOUT_SECS)]
    pub idle_timeout_secs: Option<u64>,
    /// Connections served at once (lowered to fit the open-file limit).
    #[arg(long, env = var::MAX_CONNECTIONS)]
    pub max_connections: Option<usize>,
    /// Log format: text for a terminal, JSON (one event per line) for CloudWatch or a log shipper.
    #[arg(long, env = var::LOG_FORMAT)]
    pub log_format: Option<LogFormat>,
    /// Where data lives: the embedded store in data_dir, or DynamoDB (the tables below; on Lambda).
    #[arg(long, env = var::STORE)]
    pub store: Option<StoreKind>,
    /// DynamoDB endpoint override (an emulator).
    #[arg(long, env = var::DYNAMODB_ENDPOINT)]
    pub dynamodb_endpoint: Option<String>,
    /// DynamoDB table of users, blocks, groups and send records.
    #[arg(long, env = var::ENTITIES_TABLE)]
    pub entities_table: Option<String>,
    /// DynamoDB table of feeds.
    #[arg(long, env = var::FEEDS_TABLE)]
    pub feeds_table: Option<String>,
    /// Days before a feed entry expires on DynamoDB (0: never).
    #[arg(long, env = var::FEED_TTL_DAYS)]
    pub feed_ttl_days: Option<u32>,
    /// Seconds one DynamoDB store operation may take, retries included.
    #[arg(long, env = var::DYNAMODB_BUDGET_SECS)]
    pub dynamodb_budget_secs: Option<u64>,
    /// Messages a stream may have waiting in the server before it is closed as fallen behind.
    #[arg(long, env = var::STREAM_BUFFER)]
    pub stream_buffer: Option<usize>,
    /// Seconds between a stream's pings; a peer silent for two of them is gone.
    #[arg(long, env = var::STREAM_PING_SECS)]
    pub stream_ping_secs: Option<u64>,
    /// Seconds a stream's client has to take one frame before it is closed as too slow.
    #[arg(long, env = var::STREAM_WRITE_TIMEOUT_SECS)]
    pub stream_write_timeout_secs: Option<u64>,
    /// On Lambda: the WebSocket API stage's management endpoint, where sends push (empty: no push).
    #[arg(long, env = var::PUSH_ENDPOINT)]
    pub push_endpoint: Option<String>,
    /// On Lambda: milliseconds a send waits at most for its pushes.
    #[arg(long, env = var::PUSH_BUDGET_MS)]
    pub push_budget_ms: Option<u64>,
    /// Addresses of proxies in front of the local server whose X-Forwarded-For is believed,
    /// comma-separated (empty: none; the peer address is the source).
    #[arg(long, env = var::TRUSTED_PROXIES)]
    pub trusted_proxies: Option<String>,
    /// Serve the demo chat page at /demo (the built TypeScript client in demo_dir).
    #[arg(long, env = var::DEMO)]
    pub demo: Option<bool>,
    /// The TypeScript client's folder: its `demo/` page and its built `dist/`.
    #[arg(long, env = var::DEMO_DIR)]
    pub demo_dir: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Clone, Copy, Debug, Deserialize, ValueEnum, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Embedded,
    Dynamodb,
}

#[derive(Clone, Copy, Debug, Deserialize, ValueEnum, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anyone may register (`POST /v1/users`): the local walkthrough's mode.
    Open,
    /// Users come from the app only: its backend (the server API) or its identity provider.
    App,
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
    pub key_ring_secret: String,
    pub key_ring_version: String,
    pub server_key: String,
    pub auth_mode: AuthMode,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u32,
    pub jwt_jwks_url: String,
    pub jwt_hs256_secret: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_name_claim: String,
    pub jwt_leeway_secs: u64,
    pub max_group_size: usize,
    pub cache_mb: usize,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub header_read_timeout_secs: u64,
    pub body_read_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub max_connections: usize,
    pub log_format: LogFormat,
    pub store: StoreKind,
    pub dynamodb_endpoint: String,
    pub entities_table: String,
    pub feeds_table: String,
    pub feed_ttl_days: u32,
    pub dynamodb_budget_secs: u64,
    pub stream_buffer: usize,
    pub stream_ping_secs: u64,
    pub stream_write_timeout_secs: u64,
    pub push_endpoint: String,
    pub push_budget_ms: u64,
    pub trusted_proxies: String,
    pub demo: bool,
    pub demo_dir: PathBuf,
    pub limits: RuleLimits,
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
            key_ring_secret,
            key_ring_version,
            server_key,
            auth_mode,
            access_token_ttl_secs,
            refresh_token_ttl_days,
            jwt_jwks_url,
            jwt_hs256_secret,
            jwt_issuer,
            jwt_audience,
            jwt_name_claim,
            jwt_leeway_secs,
            max_group_size,
            cache_mb,
            rate_limit_per_second,
            rate_limit_burst,
            header_read_timeout_secs,
            body_read_timeout_secs,
            idle_timeout_secs,
            max_connections,
            log_format,
            store,
            dynamodb_endpoint,
            entities_table,
            feeds_table,
            feed_ttl_days,
            dynamodb_budget_secs,
            stream_buffer,
            stream_ping_secs,
            stream_write_timeout_secs,
            push_endpoint,
            push_budget_ms,
            trusted_proxies,
            demo,
            demo_dir
        );
        args.limits.overlay(&mut settings.limits);
        anyhow::ensure!(settings.max_group_size >= 1, "max_group_size must be at least 1");
        anyhow::ensure!(
            settings.max_group_size <= contract::limits::MAX_GROUP_SIZE,
            "max_group_size must be at most {}: on DynamoDB a group's member list lives in one item, whose size \
             DynamoDB limits to 400 KB",
            contract::limits::MAX_GROUP_SIZE
        );
        anyhow::ensure!(
            settings.limits.of(Rule::FanoutPerUser).is_none_or(|fanout| fanout as usize >= settings.max_group_size),
            "limits.fanout_per_user must be 0 or at least max_group_size: a send to a full group would never fit"
        );
        settings.trusted_proxies().context("trusted_proxies")?;
        anyhow::ensure!(settings.access_token_ttl_secs >= 1, "access_token_ttl_secs must be at least 1");
        anyhow::ensure!(settings.refresh_token_ttl_days >= 1, "refresh_token_ttl_days must be at least 1");
        anyhow::ensure!(settings.cache_mb >= 1, "cache_mb must be at least 1");
        anyhow::ensure!(settings.max_connections >= 1, "max_connections must be at least 1");
        anyhow::ensure!(settings.dynamodb_budget_secs >= 1, "dynamodb_budget_secs must be at least 1");
        anyhow::ensure!(settings.stream_buffer >= 1, "stream_buffer must be at least 1");
        anyhow::ensure!(settings.push_budget_ms >= 1, "push_budget_ms must be at least 1");
        for (name, secs) in [
            ("header_read_timeout_secs", settings.header_read_timeout_secs),
            ("body_read_timeout_secs", settings.body_read_timeout_secs),
            ("idle_timeout_secs", settings.idle_timeout_secs),
            ("stream_ping_secs", settings.stream_ping_secs),
            ("stream_write_timeout_secs", settings.stream_write_timeout_secs),
        ] {
            anyhow::ensure!(secs >= 1, "{name} must be at least 1");
        }
        Ok(settings)
    }

    /// The settings as the environment gives them, for a process started without arguments
    /// (the Lambda runtime starts the binary that way).
    pub fn from_environment() -> anyhow::Result<Self> {
        let cli = Cli::try_parse_from(["runtime", "serve"])?;
        match cli.command {
            Command::Serve(args)
            | Command::CreateTables(args)
            | Command::ServerKey(args)
            | Command::Keys(KeysCommand::Rotate(args)) => Self::resolve(args),
            Command::Openapi => Self::resolve(ServeArgs::default()),
        }
    }

    pub fn dynamo_options(&self) -> crate::store::dynamodb::DynamoOptions {
        crate::store::dynamodb::DynamoOptions {
            operation_budget: std::time::Duration::from_secs(self.dynamodb_budget_secs),
            ..crate::store::dynamodb::DynamoOptions::new(
                self.entities_table.clone(),
                self.feeds_table.clone(),
                self.feed_ttl_days,
            )
            .limited(self.limits)
        }
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<std::net::IpAddr>> {
        let listed = self.trusted_proxies.split(',').map(str::trim).filter(|a| !a.is_empty());
        listed.map(|address| address.parse().with_context(|| format!("'{address}' is not an IP address"))).collect()
    }

    pub fn dynamodb_endpoint(&self) -> Option<&str> {
        Some(self.dynamodb_endpoint.as_str()).filter(|e| !e.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use contract::env::FunctionEnv;

    use super::*;

    /// What the provisioner sets in the deployed function's environment is read by a flag here:
    /// a variable the runtime no longer reads would leave the function on its defaults.
    #[test]
    fn every_variable_of_the_deployed_environment_is_read() {
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").expect("the serve command");
        let read: Vec<String> =
            serve.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()).collect();
        let deployed = FunctionEnv {
            entities_table: "e".into(),
            feeds_table: "f".into(),
            feed_ttl_days: 1,
            key_ring_secret: "arn".into(),
            key_ring_version: "v".into(),
            auth: contract::env::FunctionAuth {
                auth_mode: "app".into(),
                access_token_ttl_secs: 60,
                jwt_jwks_url: "https://idp.example/jwks".into(),
                jwt_issuer: "i".into(),
                jwt_audience: "a".into(),
                jwt_name_claim: "name".into(),
            },
            push_endpoint: Some("https://example.invalid".into()),
        };
        for name in deployed.to_vars().keys() {
            assert!(read.contains(name), "{name} is not read by any setting: {read:?}");
        }
        assert_eq!(read.len(), 46, "one variable per setting: {read:?}");
    }

    #[test]
    fn defaults_parse_and_flags_override_them() {
        let defaults = Settings::defaults();
        assert_eq!(defaults.max_group_size, 1000);
        let settings = Settings::resolve(ServeArgs { max_group_size: Some(3), ..Default::default() }).unwrap();
        assert_eq!(settings.max_group_size, 3);
        assert_eq!(settings.listen, defaults.listen);
        assert!(Settings::resolve(ServeArgs { max_group_size: Some(0), ..Default::default() }).is_err());
        assert!(Settings::resolve(ServeArgs { max_group_size: Some(5_000), ..Default::default() }).is_ok());
        assert!(Settings::resolve(ServeArgs { max_group_size: Some(5_001), ..Default::default() }).is_err());
    }

    #[test]
    fn the_store_settings_are_overridden_too() {
        assert_eq!(Settings::defaults().store, StoreKind::Embedded);
        assert_eq!(Settings::defaults().dynamodb_endpoint(), None);
        let settings = Settings::resolve(ServeArgs {
            store: Some(StoreKind::Dynamodb),
            dynamodb_endpoint: Some("http://127.0.0.1:9".into()),
            entities_table: Some("e".into()),
            feeds_table: Some("f".into()),
            feed_ttl_days: Some(7),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(settings.store, StoreKind::Dynamodb);
        assert_eq!(settings.dynamodb_endpoint(), Some("http://127.0.0.1:9"));
        let options = settings.dynamo_options();
        assert_eq!(
            (options.entities_table.as_str(), options.feeds_table.as_str(), options.feed_ttl_days),
            ("e", "f", 7)
        );
    }
}
