//! API Gateway HTTP API (payload format 2.0) events, sent to a function through a Lambda Runtime
//! API emulator's invoke endpoint (`cargo lambda watch`), and the function's replies.

use std::path::Path;
use std::process::Stdio;

use std::time::Duration;

use contract::env::{FunctionAuth, FunctionEnv, var};
use contract::token_key::TokenKey;
use reqwest::Client;
use serde_json::{Value, json};
use tokio::process::Command;

/// The emulator's invocation endpoint for the function it knows as `_`.
pub const FUNCTION: &str = "_";
/// The WebSocket API stage the function's events come from and its pushes go to.
pub const STAGE: &str = "live";

/// The tables a function under test uses, and how long one store operation may take there.
pub struct FunctionTables<'a> {
    pub entities_table: &'a str,
    pub feeds_table: &'a str,
    pub feed_ttl_days: u32,
    pub operation_budget: Duration,
}

/// The environment a deployed function gets — the contract's [`FunctionEnv`], as the provisioner
/// sets it — for fresh `tables` on the DynamoDB emulator at `dynamodb`, in open mode (the tests
/// register users), with a key of its own in place of the key ring's secret: the image test
/// (`provisioner/tests/image.rs`) is the one that reads the secret the provisioner created.
pub fn function_settings(dynamodb: &str, tables: &FunctionTables<'_>) -> Vec<(String, String)> {
    let deployed = FunctionEnv {
        entities_table: tables.entities_table.to_owned(),
        feeds_table: tables.feeds_table.to_owned(),
        feed_ttl_days: tables.feed_ttl_days,
        key_ring_secret: String::new(),
        key_ring_version: String::new(),
        auth: FunctionAuth {
            auth_mode: "open".into(),
            access_token_ttl_secs: 3600,
            jwt_jwks_url: String::new(),
            jwt_issuer: String::new(),
            jwt_audience: String::new(),
            jwt_name_claim: "name".into(),
        },
        push_endpoint: None,
    };
    let mut settings: Vec<(String, String)> = deployed.to_vars().into_iter().collect();
    settings.push((var::TOKEN_KEY.into(), TokenKey::generate().to_hex()));
    settings.push((var::DYNAMODB_ENDPOINT.into(), dynamodb.to_owned()));
    settings.push((var::DYNAMODB_BUDGET_SECS.into(), tables.operation_budget.as_secs().to_string()));
    settings
}

/// `binary` as the Lambda service starts it — no arguments, the Runtime API and the function's
/// identity in the environment — with `settings`, serving invocations of [`FUNCTION`] from the
/// emulator at `api`.
pub fn function_command(binary: &Path, api: &str, memory_mb: u32, settings: &[(String, String)]) -> Command {
    let mut command = Command::new(binary);
    command
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", format!("{api}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}

pub struct Reply {
    pub status: u16,
    pub headers: Value,
    pub body: Value,
}

/// An API Gateway HTTP API event, payload format 2.0, as the Lambda service delivers it.
pub fn event(method: &str, path: &str, query: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let mut headers = json!({ "host": "abc123.execute-api.us-east-1.amazonaws.com", "user-agent": "lambda-test" });
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "lambda-test" },
            "requestId": uuid::Uuid::new_v4().simple().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:05:30:00 +0000",
            "timeEpoch": 1_795_412_400_000u64
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

/// Sends `event` to the function through the emulator at `api` and waits for its reply.
pub async fn invoke(http: &Client, api: &str, event: Value) -> Reply {
    let url = format!("{api}/2015-03-31/functions/{FUNCTION}/invocations");
    let response: Value = http.post(url).json(&event).send().await.expect("invoke").json().await.expect("a JSON reply");
    let body = match response["body"].as_str() {
        Some(text) if !text.is_empty() => serde_json::from_str(text).expect("a JSON body"),
        _ => Value::Null,
    };
    Reply {
        status: response["statusCode"].as_u64().expect("a status code") as u16,
        headers: response["headers"].clone(),
        body,
    }
}

/// `invoke` with the event built from a path that may carry a query string. The event is built at
/// once, so the returned future borrows nothing from the arguments.
pub fn call(
    http: &Client,
    api: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> impl Future<Output = Reply> + use<> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let event = event(method, path, query, token, body);
    let (http, api) = (http.clone(), api.to_owned());
    async move { invoke(&http, &api, event).await }
}

/// An API Gateway WebSocket API event (`CONNECT`, `DISCONNECT` or `MESSAGE`) for `connection`,
/// as the Lambda service delivers it: only `$connect` carries the client's headers, only
/// messages a body.
pub fn websocket_event(event_type: &str, connection: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let route = match event_type {
        "CONNECT" => "$connect",
        "DISCONNECT" => "$disconnect",
        _ => "$default",
    };
    let headers: serde_json::Map<String, Value> = headers.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    let multi: serde_json::Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
    let mut event = json!({
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "extendedRequestId": uuid::Uuid::new_v4().simple().to_string(),
            "requestTime": "24/Nov/2026:05:30:00 +0000",
            "messageDirection": "IN",
            "stage": STAGE,
            "connectedAt": 1_795_498_800_000u64,
            "requestTimeEpoch": 1_795_498_800_000u64,
            "identity": { "sourceIp": "127.0.0.1" },
            "requestId": uuid::Uuid::new_v4().simple().to_string(),
            "domainName": "ws123.execute-api.us-east-1.amazonaws.com",
            "connectionId": connection,
            "apiId": "ws123"
        },
        "isBase64Encoded": false
    });
    if event_type == "CONNECT" {
        event["headers"] = Value::Object(headers);
        event["multiValueHeaders"] = Value::Object(multi);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// `event` (a `$connect`) for a URL with `query`: API Gateway passes a WebSocket URL's query
/// string decoded, as `queryStringParameters` (a value per name) and
/// `multiValueQueryStringParameters` (all of them), with no raw query string — the `$connect`
/// input shown in AWS's "Control access to WebSocket APIs with AWS Lambda REQUEST authorizers",
/// and the fields of `aws_lambda_events`' `ApiGatewayWebsocketProxyRequest`.
pub fn with_query(mut event: Value, query: &str) -> Value {
    let url = reqwest::Url::parse(&format!("wss://localhost/?{query}")).expect("a query string");
    let (mut single, mut multi) = (serde_json::Map::new(), serde_json::Map::new());
    for (name, value) in url.query_pairs() {
        single.insert(name.to_string(), json!(value));
        multi.entry(name.to_string()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(json!(value));
    }
    if !single.is_empty() {
        event["queryStringParameters"] = Value::Object(single);
        event["multiValueQueryStringParameters"] = Value::Object(multi);
    }
    event
}

/// The function's answer to a WebSocket event (API Gateway's REST-style response).
pub struct WebSocketReply {
    pub status: u16,
    /// `headers`, the form AWS documents for a `$connect` answer's subprotocol.
    pub headers: Value,
    /// `multiValueHeaders`, which API Gateway merges with `headers`.
    pub multi_value_headers: Value,
    pub body: String,
}

/// Sends a WebSocket event to the function through the emulator at `api`.
pub async fn invoke_websocket(http: &Client, api: &str, event: Value) -> WebSocketReply {
    let url = format!("{api}/2015-03-31/functions/{FUNCTION}/invocations");
    let response: Value = http.post(url).json(&event).send().await.expect("invoke").json().await.expect("a JSON reply");
    WebSocketReply {
        status: response["statusCode"].as_u64().expect("a status code") as u16,
        headers: response["headers"].clone(),
        multi_value_headers: response["multiValueHeaders"].clone(),
        body: response["body"].as_str().unwrap_or_default().to_owned(),
    }
}
