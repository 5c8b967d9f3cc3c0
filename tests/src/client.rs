//! Drives the router in-process with `tower::ServiceExt::oneshot`: the real handlers,
//! extractors and error mapping, without sockets.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use contract::key_ring::KeyRing;
use http_body_util::BodyExt;
use runtime::api::rate_limit::RateLimiter;
use runtime::config::Settings;
use runtime::domain::Keys;
use runtime::identity::IdentityProvider;
use runtime::{AppState, Limits, SessionPolicy, StreamLimits, app};
use serde_json::Value;
use tower::ServiceExt;

use crate::Backend;

pub struct TestApp {
    router: Router,
    /// The server API's key of this app's key ring.
    pub server_key: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone, Debug)]
pub struct Registered {
    pub id: String,
    pub token: String,
}

impl Reply {
    /// Asserts an error reply: the status, and the JSON shape every error has.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "unexpected error code; body: {}", self.body);
        assert!(
            self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without message: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        &self.body
    }
}

impl TestApp {
    /// The app with the built-in default settings (group size, rate limits) over `backend`.
    pub fn new(backend: &Backend) -> Self {
        let defaults = Settings::defaults();
        Self::with(
            backend,
            defaults.max_group_size,
            RateLimiter::new(defaults.rate_limit_per_second, defaults.rate_limit_burst),
        )
    }

    pub fn with(backend: &Backend, max_group_size: usize, rate_limiter: Option<RateLimiter>) -> Self {
        Self::with_sessions(backend, max_group_size, rate_limiter, Self::default_sessions())
    }

    /// The session settings of the built-in defaults (open registration).
    pub fn default_sessions() -> SessionPolicy {
        runtime::wiring::session_policy(&Settings::defaults())
    }

    pub fn with_sessions(
        backend: &Backend,
        max_group_size: usize,
        rate_limiter: Option<RateLimiter>,
        sessions: SessionPolicy,
    ) -> Self {
        Self::with_identity(backend, max_group_size, rate_limiter, sessions, None)
    }

    /// The app taking identity tokens of `identity` at `POST /v1/sessions`.
    pub fn with_identity(
        backend: &Backend,
        max_group_size: usize,
        rate_limiter: Option<RateLimiter>,
        sessions: SessionPolicy,
        identity: Option<IdentityProvider>,
    ) -> Self {
        let ring = KeyRing::generate(runtime::domain::session::now());
        let state = AppState {
            store: backend.store.clone(),
            keys: Arc::new(Keys::from_ring(&ring)),
            limits: Limits {
                max_group_size,
                body_read_timeout: std::time::Duration::from_secs(Settings::defaults().body_read_timeout_secs),
                stream: StreamLimits {
                    ping: std::time::Duration::from_secs(Settings::defaults().stream_ping_secs),
                    write_timeout: std::time::Duration::from_secs(Settings::defaults().stream_write_timeout_secs),
                },
            },
            sessions,
            identity: identity.map(Arc::new),
            signouts: Arc::default(),
            rate_limiter: rate_limiter.map(Arc::new),
            streams: Arc::default(),
            delivery: None,
        };
        Self { router: app(state), server_key: ring.server_key.as_str().to_owned() }
    }

    pub async fn raw(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("non-JSON body ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        if status.is_client_error() || status.is_server_error() {
            assert!(body["error"]["code"].is_string(), "an error without a JSON code: {status} {body}");
        }
        Reply { status, headers, body }
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Reply {
        let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
        self.raw(request.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call("POST", path, Some(token), Some(&body.to_string())).await
    }

    pub async fn put(&self, path: &str, token: &str) -> Reply {
        self.call("PUT", path, Some(token), None).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call("DELETE", path, Some(token), None).await
    }

    pub async fn register(&self, name: &str) -> Registered {
        let reply = self.call("POST", "/v1/users", None, Some(&serde_json::json!({ "name": name }).to_string())).await;
        let body = reply.assert_status(201);
        Registered { id: body["id"].as_str().unwrap().to_owned(), token: body["token"].as_str().unwrap().to_owned() }
    }

    pub async fn create_group(&self, owner: &Registered, members: &[&Registered]) -> String {
        let reply = self.post("/v1/groups", &owner.token, &serde_json::json!({ "name": "team" })).await;
        let id = reply.assert_status(201)["id"].as_str().unwrap().to_owned();
        for member in members {
            self.put(&format!("/v1/groups/{id}/members/{}", member.id), &owner.token).await.assert_status(204);
        }
        id
    }

    pub async fn send_direct(&self, from: &Registered, to: &str, text: &str) -> Reply {
        self.post(&format!("/v1/users/{to}/messages"), &from.token, &serde_json::json!({ "text": text })).await
    }

    /// Every message in the user's feed, following `next` until `has_more` is false.
    pub async fn drain(&self, user: &Registered, mut after: Option<String>) -> (Vec<Value>, String) {
        let mut messages = Vec::new();
        loop {
            let path = match &after {
                Some(cursor) => format!("/v1/messages?after={cursor}&limit=50"),
                None => "/v1/messages?limit=50".to_owned(),
            };
            let body = self.get(&path, &user.token).await.assert_status(200).clone();
            messages.extend(body["messages"].as_array().unwrap().iter().cloned());
            let next = body["next"].as_str().unwrap().to_owned();
            after = Some(next.clone());
            if !body["has_more"].as_bool().unwrap() {
                return (messages, next);
            }
        }
    }
}
