//! The composition root: the store, the keys and the application state, built once from the
//! settings — shared by the local server and the Lambda entry, so both serve the same `app`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::api::rate_limit::RateLimiter;
use crate::api::{AppState, Limits, StreamLimits};
use crate::config::{Settings, StoreKind};
use crate::domain::Keys;
use crate::store::Store;
use crate::store::dynamodb::{DynamoStore, schema};
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};

pub const DATABASE_FILE: &str = "messages.redb";
pub const KEY_FILE: &str = "server.key";

/// The configured key, or the one kept in the data directory (created on first start).
pub fn load_keys(settings: &Settings) -> anyhow::Result<Keys> {
    if !settings.token_key.is_empty() {
        return Keys::from_hex(&settings.token_key).map_err(|e| anyhow::anyhow!("token_key: {e}"));
    }
    std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let path = settings.data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(hex) => Keys::from_hex(&hex).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let keys = Keys::generate();
            write_secret(&path, &keys.to_hex())?;
            Ok(keys)
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
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
            let options =
                EmbeddedOptions { cache_bytes: settings.cache_mb * 1024 * 1024, stream_buffer: settings.stream_buffer };
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
    app_state(settings, open_store(settings).await?)
}

/// Everything the router needs, over a store already open.
pub fn app_state(settings: &Settings, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
    let keys = load_keys(settings)?;
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
        rate_limiter: RateLimiter::new(settings.rate_limit_per_second, settings.rate_limit_burst).map(Arc::new),
        delivery: None,
    })
}

/// `runtime create-tables`: the DynamoDB tables of the settings, on-demand, with TTL if configured.
pub async fn create_tables(settings: &Settings) -> anyhow::Result<()> {
    let client = DynamoStore::client(settings.dynamodb_endpoint(), settings.dynamo_options().operation_budget).await;
    schema::create_tables(&client, &settings.dynamo_options()).await?;
    println!("tables ready: {}, {}", settings.entities_table, settings.feeds_table);
    Ok(())
}
