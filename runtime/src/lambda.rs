//! The Lambda entry point: the same router, over DynamoDB, fed by the Lambda Runtime API with
//! API Gateway HTTP API (payload 2.0) events — and, with a WebSocket API in front as well, its
//! `$connect`, `$disconnect` and message events, which never reach the router.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use contract::env::var;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::tower::Service;
use lambda_http::{Adapter, LambdaEvent, RequestExt, service_fn};
use tower::ServiceExt;

use crate::api::source::SourceIp;
use crate::config::{Settings, StoreKind};
use crate::push::gateway::Gateway;
use crate::push::{Push, websocket};
use crate::store::dynamodb::DynamoStore;
use crate::wiring::app_state;
use crate::{app, deadline};

/// Set by the Lambda service (and by emulators of its Runtime API) in the function's process.
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

pub fn is_lambda() -> bool {
    std::env::var_os(RUNTIME_API_VAR).is_some()
}

/// Builds everything once, before the first event (the SDK clients included), so only the cold
/// start pays for it; then serves events until the Lambda service stops the process.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    anyhow::ensure!(settings.store == StoreKind::Dynamodb, "on Lambda, {} must be dynamodb", var::STORE);
    // Instances come and go with no shared disk: a generated key would differ between them.
    anyhow::ensure!(
        !settings.key_ring_secret.is_empty() || !settings.token_key.is_empty(),
        "on Lambda, {} (or {}) must be set",
        var::KEY_RING_SECRET,
        var::TOKEN_KEY
    );
    let keys = crate::wiring::keys(&settings).await.context("loading the keys")?;
    let options = settings.dynamo_options();
    let client = DynamoStore::client(settings.dynamodb_endpoint(), options.operation_budget).await;
    let store = Arc::new(DynamoStore::new(client, options));
    let mut state = app_state(&settings, store.clone(), keys).context("opening the store")?;
    tracing::info!(entities = %settings.entities_table, feeds = %settings.feeds_table, "ready for events");
    if settings.push_endpoint.is_empty() {
        let router = app(state);
        let handler = service_fn(move |request: lambda_http::Request| {
            let router = router.clone();
            let request = with_source(request);
            async move { deadline::within(answer_by(&request), router.oneshot(request)).await }
        });
        return lambda_http::run(handler).await.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"));
    }

    let budget = Duration::from_millis(settings.push_budget_ms);
    let gateway = Gateway::new(&settings.push_endpoint, budget).await;
    let push = Arc::new(Push::new(store, gateway, state.keys.clone(), budget));
    state.delivery = Some(push.clone());
    let router = app(state.clone());
    let handler = service_fn(move |request: lambda_http::Request| {
        let (router, state, push) = (router.clone(), state.clone(), push.clone());
        let request = with_source(request);
        async move {
            let by = answer_by(&request);
            let served = async {
                match request.request_context_ref() {
                    Some(RequestContext::WebSocket(context)) => {
                        let context = context.clone();
                        Ok(websocket::handle(&state, &push, &context, request).await)
                    }
                    _ => router.oneshot(request).await,
                }
            };
            deadline::within(by, served).await
        }
    });
    tracing::info!(endpoint = %settings.push_endpoint, "pushing to WebSocket connections");
    let adapter = Adapter::from(handler);
    let events = service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let websocket = matches!(event.payload, LambdaRequest::WebSocket(_));
        let mut adapter = adapter.clone();
        async move {
            let response = adapter.ready().await?.call(event).await?;
            let mut response = serde_json::to_value(response)?;
            if websocket {
                headers_as_documented(&mut response);
            }
            Ok::<_, lambda_http::Error>(response)
        }
    });
    lambda_http::lambda_runtime::run(events).await.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// The request with its source address (API Gateway's `sourceIp`, HTTP or WebSocket) as the
/// router's [`SourceIp`]: the address API Gateway received the request from, which no header of
/// the client's can change.
fn with_source(mut request: lambda_http::Request) -> lambda_http::Request {
    let source = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.as_deref(),
        Some(RequestContext::WebSocket(context)) => context.identity.source_ip.as_deref(),
        _ => None,
    };
    if let Some(ip) = source.and_then(|ip| ip.parse().ok()) {
        request.extensions_mut().insert(SourceIp(ip));
    }
    request
}

/// When the invocation must be answered by: its deadline less the time to answer.
fn answer_by(request: &lambda_http::Request) -> Option<tokio::time::Instant> {
    let context = request.lambda_context_ref()?;
    deadline::answer_by(context.deadline(), std::time::SystemTime::now(), tokio::time::Instant::now())
}

/// Moves a WebSocket answer's headers from `multiValueHeaders`, where `lambda_http` puts them, to
/// `headers`: the form AWS documents for the `$connect` subprotocol answer ("Set up a $connect
/// route that requires a WebSocket subprotocol",
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-connect-route-subprotocol.html).
/// Moved, not copied: API Gateway merges the two fields of a proxy answer, and a subprotocol named
/// twice is one the browser refuses.
pub fn headers_as_documented(response: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(Value::Object(multi)) = response.get_mut("multiValueHeaders").map(Value::take) else { return };
    let single = multi.into_iter().filter_map(|(name, values)| {
        let values: Vec<&str> = values.as_array()?.iter().filter_map(Value::as_str).collect();
        Some((name, Value::String(values.join(", "))))
    });
    response["headers"] = Value::Object(single.collect());
    response["multiValueHeaders"] = Value::Object(serde_json::Map::new());
}
