//! The composition root: the store, the keys and the application state, built once from the
//! settings — shared by the local server and the Lambda entry, so both serve the same `app`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::api::rate_limit::RateLimiter;
use crate::api::{AppState, Limits, OpenStreams, SessionPolicy, StreamLimits};
use crate::config::{AuthMode, Settings, StoreKind};
use crate::domain::session::now;
use crate::domain::{Keys, Rule};
use crate::identity::{IdentityOptions, IdentityProvider, jwks_url};
use crate::store::Store;
use crate::store::dynamodb::{DynamoStore, schema};
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use contract::key_ring::{KeyRing, ServerKey};
use contract::token_key::TokenKey;

pub const DATABASE_FILE: &str = "messages.redb";
/// The key ring ([`contract::key_ring`]).
pub const KEY_RING_FILE: &str = "keys.json";
/// The one token key of versions before the ring: read once, to become the ring's first key.
pub const LEGACY_KEY_FILE: &str = "server.key";

/// The ring in AWS Secrets Manager (`key_ring_secret`, on Lambda: read once per cold start), the
/// one configured key, or the ring kept in the data directory (created on first start).
pub async fn keys(settings: &Settings) -> anyhow::Result<Keys> {
    if settings.key_ring_secret.is_empty() {
        return load_keys(settings);
    }
    anyhow::ensure!(settings.token_key.is_empty(), "set token_key or key_ring_secret, not both");
    let ring = read_secret_ring(&settings.key_ring_secret, &settings.key_ring_version).await?;
    let server_key = match settings.server_key.as_str() {
        "" => ring.server_key.clone(),
        configured => ServerKey::parse(configured).map_err(|e| anyhow::anyhow!("server_key: {e}"))?,
    };
    Ok(Keys::new(&ring, Some(server_key)))
}

/// The ring stored in the secret, at `version` (empty: the current one). The client takes the
/// endpoint, region and credentials from the standard AWS environment
/// (`AWS_ENDPOINT_URL_SECRETS_MANAGER` points it at an emulator).
async fn read_secret_ring(secret: &str, version: &str) -> anyhow::Result<KeyRing> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let mut request = client.get_secret_value().secret_id(secret);
    if !version.is_empty() {
        request = request.version_id(version);
    }
    let value = request.send().await.map_err(|e| {
        anyhow::anyhow!("reading the key ring {secret}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
    })?;
    let text = value.secret_string().context("the key ring secret has no string value")?;
    KeyRing::parse(text).map_err(|e| anyhow::anyhow!("the key ring in {secret}: {e}"))
}

/// The configured key, or the ring kept in the data directory (created on first start).
pub fn load_keys(settings: &Settings) -> anyhow::Result<Keys> {
    let server_key = match settings.server_key.as_str() {
        "" => None,
        configured => Some(ServerKey::parse(configured).map_err(|e| anyhow::anyhow!("server_key: {e}"))?),
    };
    if !settings.token_key.is_empty() {
        let key = TokenKey::parse(&settings.token_key).map_err(|e| anyhow::anyhow!("token_key: {e}"))?;
        return Ok(Keys::new(&KeyRing::from_legacy(key, now()), server_key));
    }
    let ring = load_ring(&settings.data_dir)?;
    let server_key = server_key.unwrap_or_else(|| ring.server_key.clone());
    Ok(Keys::new(&ring, Some(server_key)))
}

/// `data_dir/keys.json`; made from an older version's `server.key` (which is then removed), or
/// generated, when it does not exist.
fn load_ring(data_dir: &Path) -> anyhow::Result<KeyRing> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join(KEY_RING_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => return KeyRing::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    }
    let legacy = data_dir.join(LEGACY_KEY_FILE);
    let ring = match std::fs::read_to_string(&legacy) {
        Ok(hex) => {
            let key = TokenKey::parse(&hex).map_err(|e| anyhow::anyhow!("{}: {e}", legacy.display()))?;
            KeyRing::from_legacy(key, now())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => KeyRing::generate(now()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", legacy.display())),
    };
    write_secret(&path, &ring.to_json())?;
    if legacy.exists() {
        std::fs::remove_file(&legacy).with_context(|| format!("removing {}", legacy.display()))?;
    }
    Ok(ring)
}

/// `runtime keys rotate`: a new signing key in `data_dir/keys.json`; returns its id.
pub fn rotate_keys(settings: &Settings) -> anyhow::Result<String> {
    anyhow::ensure!(
        settings.token_key.is_empty(),
        "token_key is set: it is the only key, and rotating means changing it"
    );
    let mut ring = load_ring(&settings.data_dir)?;
    ring.rotate(now(), settings.access_token_ttl_secs);
    write_secret(&settings.data_dir.join(KEY_RING_FILE), &ring.to_json())?;
    Ok(ring.signing().id())
}

/// Writes the key readable by the owner only, atomically, and durably: losing it after tokens
/// were handed out would log every user out.
fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The configured store, with its clients built once here.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.store {
        StoreKind::Embedded => {
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("creating {}", settings.data_dir.display()))?;
            let options = EmbeddedOptions {
                cache_bytes: settings.cache_mb * 1024 * 1024,
                stream_buffer: settings.stream_buffer,
                limits: settings.limits,
                ..EmbeddedOptions::default()
            };
            let database = settings.data_dir.join(DATABASE_FILE);
            let store =
                EmbeddedStore::open(&database, &options).with_context(|| format!("opening {}", database.display()))?;
            Arc::new(store)
        }
        StoreKind::Dynamodb => {
            let options = settings.dynamo_options();
            let client = DynamoStore::client(settings.dynamodb_endpoint(), options.operation_budget).await;
            Arc::new(DynamoStore::new(client, options))
        }
    })
}

/// Everything the router needs, opened from the settings.
pub async fn open_state(settings: &Settings) -> anyhow::Result<AppState> {
    app_state(settings, open_store(settings).await?, keys(settings).await?)
}

/// Everything the router needs, over a store already open.
pub fn app_state(settings: &Settings, store: Arc<dyn Store>, keys: Keys) -> anyhow::Result<AppState> {
    let identity = identity_provider(settings, &keys)?.map(Arc::new);
    Ok(AppState {
        store,
        keys: Arc::new(keys),
        limits: Limits {
            max_group_size: settings.max_group_size,
            body_read_timeout: Duration::from_secs(settings.body_read_timeout_secs),
            stream: StreamLimits {
                ping: Duration::from_secs(settings.stream_ping_secs),
                write_timeout: Duration::from_secs(settings.stream_write_timeout_secs),
            },
        },
        sessions: session_policy(settings),
        identity,
        signouts: Arc::default(),
        rate_limiter: RateLimiter::new(settings.rate_limit_per_second, settings.rate_limit_burst).map(Arc::new),
        streams: OpenStreams::new(settings.limits.of(Rule::ConnectionsPerUser)),
        delivery: None,
    })
}

/// How sessions are issued, from the settings.
pub fn session_policy(settings: &Settings) -> SessionPolicy {
    SessionPolicy {
        open_registration: settings.auth_mode == AuthMode::Open,
        access_ttl_secs: settings.access_token_ttl_secs,
        refresh_ttl_secs: u64::from(settings.refresh_token_ttl_days) * 86_400,
    }
}

/// The app's identity provider, when the settings name one. The HS256 secret is the setting's,
/// else the key ring's (where `provisioner keys hs256-secret` puts it on AWS).
pub fn identity_provider(settings: &Settings, keys: &Keys) -> anyhow::Result<Option<IdentityProvider>> {
    let set = |value: &str| Some(value.to_owned()).filter(|v| !v.is_empty());
    let ring_secret = keys.jwt_hs256_secret().map(|secret| secret.as_str().to_owned());
    IdentityProvider::new(IdentityOptions {
        jwks_url: set(&settings.jwt_jwks_url).map(|url| jwks_url(&url)).transpose()?,
        hs256_secret: set(&settings.jwt_hs256_secret).or(ring_secret),
        issuer: set(&settings.jwt_issuer),
        audience: set(&settings.jwt_audience),
        leeway_secs: settings.jwt_leeway_secs,
        name_claim: settings.jwt_name_claim.clone(),
    })
}

/// `runtime create-tables`: the DynamoDB tables of the settings, on-demand, with TTL if configured.
pub async fn create_tables(settings: &Settings) -> anyhow::Result<()> {
    let client = DynamoStore::client(settings.dynamodb_endpoint(), settings.dynamo_options().operation_budget).await;
    schema::create_tables(&client, &settings.dynamo_options()).await?;
    println!("tables ready: {}, {}", settings.entities_table, settings.feeds_table);
    Ok(())
}
