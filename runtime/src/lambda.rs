//! The Lambda entry point: the same router, over DynamoDB, fed by the Lambda Runtime API with
//! API Gateway HTTP API (payload 2.0) events.

use anyhow::Context;

use crate::app;
use crate::config::{Settings, StoreKind};
use crate::server::open_state;

/// Set by the Lambda service (and by emulators of its Runtime API) in the function's process.
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

pub fn is_lambda() -> bool {
    std::env::var_os(RUNTIME_API_VAR).is_some()
}

/// Builds everything once, before the first event (the store's SDK client included), so only the
/// cold start pays for it; then serves events until the Lambda service stops the process.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    anyhow::ensure!(settings.store == StoreKind::Dynamodb, "on Lambda, MESSAGING_STORE must be dynamodb");
    // Instances come and go with no shared disk: a generated key would differ between them.
    anyhow::ensure!(!settings.token_key.is_empty(), "on Lambda, MESSAGING_TOKEN_KEY must be set");
    let state = open_state(&settings).await.context("opening the store")?;
    tracing::info!(entities = %settings.entities_table, feeds = %settings.feeds_table, "ready for events");
    lambda_http::run(app(state)).await.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}
