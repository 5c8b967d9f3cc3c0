//! The HTTP API as a client sees it: one request, its status, its JSON body and how long it took.
//! TLS is rustls on aws-lc-rs with the system's roots — what the AWS SDK's own client builds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;
use serde_json::Value;

/// The TLS settings both clients use: aws-lc-rs, the system's roots — which a target reached
/// without TLS (a local server) does without.
pub fn tls_config(required: bool) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 && required {
        return Err(format!("no CA certificates found on this system ({:?})", found.errors));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An answer of the API.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub took: Duration,
}

impl Answer {
    /// The error code of a 4xx body (`{"error":{"code":…}}`), if any.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// "201", or "403 blocked" — what to show when it is not what was expected.
    pub fn describe(&self) -> String {
        match self.code() {
            Some(code) => format!("{} {code}", self.status.as_u16()),
            None => self.status.as_u16().to_string(),
        }
    }
}

/// Who a request is made as.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// A user's access token.
    Bearer(&'a str),
    /// The server key, for the server API.
    Server(&'a str),
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct Api {
    client: HttpsClient,
    base: String,
    timeout: Duration,
}

impl Api {
    pub fn new(base: &str, tls: Arc<ClientConfig>, timeout: Duration) -> Self {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Self { client, base: base.trim_end_matches('/').to_owned(), timeout }
    }

    /// `method path` with `body` as JSON; a transport failure or timeout is an error, any status
    /// an answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        let what = format!("{method} {path}");
        let mut request = Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Auth::Bearer(token) | Auth::Server(token) = auth {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|e| format!("{what}: {e}"))?;
        let started = Instant::now();
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| format!("{what}: {}", chain(&e)))?;
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(|e| format!("{what}: reading the answer: {e}"))?;
            Ok::<_, String>((status, bytes.to_bytes()))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("{what}: no answer within {} s", self.timeout.as_secs()))??;
        let took = started.elapsed();
        // A 204 has no body; anything else the API answers is JSON.
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Ok(Answer { status, body, took })
    }
}

/// An error and its sources on one line: a client error's own message alone says only that the
/// request failed.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
