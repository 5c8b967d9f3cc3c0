//! API Gateway HTTP API (payload format 2.0) events, sent to a function through a Lambda Runtime
//! API emulator's invoke endpoint (`cargo lambda watch`), and the function's replies.

use reqwest::Client;
use serde_json::{Value, json};

/// The emulator's invocation endpoint for the function it knows as `_`.
pub const FUNCTION: &str = "_";

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
