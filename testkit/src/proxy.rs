//! One loopback proxy in front of an emulator, for every crate's tests: it forwards any request
//! to the emulator, records each with its answer, can slow everything down, and lets a [`Hook`]
//! answer in the emulator's place (the DynamoDB chaos layer injects its faults that way).
//!
//! A request runs to its end in a task of its own even when the client hangs up (an attempt
//! timeout), as on AWS: it may still be applied.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
pub use hyper::header::HeaderValue;
use hyper::service::service_fn;
pub use hyper::{HeaderMap, Method, StatusCode};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// A request as the client sent it.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Exchange {
    /// The operation it calls, whichever of AWS's protocols it uses: `PutItem` (JSON, by
    /// `X-Amz-Target`), `CreateRole` (query, by `Action=`), or `POST /2015-03-31/functions` (REST).
    pub fn operation(&self) -> String {
        if let Some(target) = self.headers.get("x-amz-target").and_then(|t| t.to_str().ok()) {
            return target.rsplit('.').next().unwrap_or(target).to_owned();
        }
        let form = String::from_utf8_lossy(&self.body);
        if let Some(action) = form.split('&').find_map(|p| p.strip_prefix("Action=")) {
            return action.to_owned();
        }
        let path = self.path.split('?').next().unwrap_or_default();
        format!("{} {path}", self.method)
    }

    /// The service the request was signed for: SigV4's credential scope names it
    /// (`Credential=<key>/<date>/<region>/<service>/aws4_request`); empty if unsigned.
    pub fn service(&self) -> String {
        let authorization = self.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let scope = authorization.split("Credential=").nth(1).and_then(|c| c.split(',').next()).unwrap_or_default();
        scope.split('/').nth(3).unwrap_or_default().to_owned()
    }
}

/// An answer, the emulator's or a hook's.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The emulator behind the proxy.
pub struct Upstream {
    url: String,
    http: reqwest::Client,
}

impl Upstream {
    /// `request`, forwarded as it came (but for the hop-by-hop headers).
    pub async fn forward(&self, request: &Exchange) -> Answer {
        let mut forward = self
            .http
            .request(request.method.clone(), format!("{}{}", self.url, request.path))
            .body(request.body.clone());
        for (name, value) in &request.headers {
            if name != "host" && name != "content-length" {
                forward = forward.header(name, value);
            }
        }
        match forward.send().await {
            Ok(response) => {
                let (status, mut headers) = (response.status(), response.headers().clone());
                headers.remove("content-length");
                headers.remove("transfer-encoding");
                Answer { status, headers, body: response.bytes().await.unwrap_or_default() }
            }
            Err(e) => {
                let mut headers = HeaderMap::new();
                headers.insert("x-amzn-errortype", HeaderValue::from_static("InternalServerError"));
                Answer {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    headers,
                    body: Bytes::from(format!("{{\"message\":\"proxy: {e}\"}}")),
                }
            }
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What answers a request: forwards it, or answers in the emulator's place.
pub trait Hook: Send + Sync + 'static {
    fn answer<'a>(&'a self, request: &'a Exchange, upstream: &'a Upstream) -> BoxFuture<'a, Answer>;
}

/// Forwards everything.
pub struct Forward;

impl Hook for Forward {
    fn answer<'a>(&'a self, request: &'a Exchange, upstream: &'a Upstream) -> BoxFuture<'a, Answer> {
        Box::pin(upstream.forward(request))
    }
}

/// One request that went through, and its answer.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// As [`Exchange::operation`] names it.
    pub operation: String,
    /// As [`Exchange::service`] names it.
    pub service: String,
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub body: Bytes,
    pub response: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

struct Shared {
    upstream: Upstream,
    hook: Arc<dyn Hook>,
    /// Every request and answer, when recording.
    recorded: Option<Mutex<Vec<Recorded>>>,
    /// How many requests of each operation came.
    seen: Mutex<std::collections::BTreeMap<String, u64>>,
    delay_ms: AtomicU64,
}

pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `upstream`, answering through `hook`.
    pub async fn start(upstream: &str, hook: Arc<dyn Hook>) -> Self {
        Self::serve(upstream, hook, false).await
    }

    /// [`Self::start`], keeping every request and answer for [`Self::take`].
    pub async fn recording(upstream: &str, hook: Arc<dyn Hook>) -> Self {
        Self::serve(upstream, hook, true).await
    }

    async fn serve(upstream: &str, hook: Arc<dyn Hook>, record: bool) -> Self {
        let shared = Arc::new(Shared {
            upstream: Upstream { url: upstream.trim_end_matches('/').to_owned(), http: reqwest::Client::new() },
            hook,
            recorded: record.then(Mutex::default),
            seen: Mutex::default(),
            delay_ms: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = server.clone();
                let service = service_fn(move |request| answer_one(shared.clone(), request));
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, shared }
    }

    /// Everything recorded since the last call (nothing unless [`Self::recording`]).
    pub fn take(&self) -> Vec<Recorded> {
        self.shared.recorded.as_ref().map(|r| std::mem::take(&mut *r.lock().unwrap())).unwrap_or_default()
    }

    /// Requests of `operation` received so far.
    pub fn seen(&self, operation: &str) -> u64 {
        self.shared.seen.lock().unwrap().get(operation).copied().unwrap_or(0)
    }

    /// Requests of every operation starting with `prefix` (REST operations name their path).
    pub fn seen_matching(&self, prefix: &str) -> u64 {
        self.shared.seen.lock().unwrap().iter().filter(|(op, _)| op.starts_with(prefix)).map(|(_, n)| n).sum()
    }

    /// Delays every request by `delay` from now on.
    pub fn slow_down(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

async fn answer_one(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let exchange = Exchange { method: parts.method, path, headers: parts.headers, body };
    // To its end even if the client hangs up: dropping this future must not stop the request.
    let answer = tokio::spawn(async move {
        let operation = exchange.operation();
        *shared.seen.lock().unwrap().entry(operation.clone()).or_default() += 1;
        let delay = shared.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let answer = shared.hook.answer(&exchange, &shared.upstream).await;
        if let Some(recorded) = &shared.recorded {
            let exchange = Recorded {
                operation,
                service: exchange.service(),
                method: exchange.method.clone(),
                path: exchange.path.clone(),
                body: exchange.body.clone(),
                response: answer.body.clone(),
            };
            recorded.lock().unwrap().push(exchange);
        }
        answer
    })
    .await
    .unwrap_or_else(|e| Answer {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        headers: HeaderMap::new(),
        body: Bytes::from(format!("{{\"message\":\"proxy: {e}\"}}")),
    });
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    Ok(response)
}
