//! One way to call the API for every test and tool, whatever carries the request: the router
//! in-process ([`TestApp`](crate::client::TestApp)), HTTP to a running binary ([`Http`]), or API
//! Gateway events through the Lambda Runtime API emulator ([`Lambda`]). Helpers written against
//! [`Transport`] (registering a user, the usage scenario) run over any of them.

use std::future::Future;

use serde_json::{Value, json};

/// Sends one request; the status and the JSON body (`null` when there is none).
pub trait Transport {
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> impl Future<Output = (u16, Value)>;
}

/// Registers a user called `name` (open registration): its id and token.
pub async fn register(api: &impl Transport, name: &str) -> (String, String) {
    let (status, body) = api.call("POST", "/v1/users", None, Some(json!({ "name": name }))).await;
    assert_eq!(status, 201, "{body}");
    let field = |key: &str| body[key].as_str().unwrap_or_else(|| panic!("no {key} in {body}")).to_owned();
    (field("id"), field("token"))
}

impl Transport for crate::client::TestApp {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let reply = crate::client::TestApp::call(self, method, path, token, body.as_deref()).await;
        (reply.status.as_u16(), reply.body)
    }
}

/// A running server, over HTTP.
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self { client: reqwest::Client::new(), base: base.trim_end_matches('/').to_owned() }
    }

    /// A request that may get no answer (a server killed mid-request): an error then, and a body
    /// that is not JSON (cut short) reads as `null`.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let (status, text) = self.send(method, path, token, body).await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(u16, String), reqwest::Error> {
        let mut request = self.client.request(method.parse().expect("an HTTP method"), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }
}

/// The server must answer, with a JSON body or none.
impl Transport for Http {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let (status, text) = self.send(method, path, token, body).await.expect("the server answers");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON body") };
        (status, body)
    }
}

/// The function under the Lambda Runtime API emulator at `api`, fed HTTP API events.
pub struct Lambda {
    pub http: reqwest::Client,
    pub api: String,
}

impl Transport for Lambda {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let reply = crate::lambda_events::call(&self.http, &self.api, method, path, token, body).await;
        (reply.status, reply.body)
    }
}
