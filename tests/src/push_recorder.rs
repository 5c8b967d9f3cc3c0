//! A stand-in for an API Gateway WebSocket stage's management endpoint, on loopback: records
//! every `PostToConnection` (`POST /{stage}/@connections/{id}`) and `DeleteConnection` (`DELETE`)
//! a function makes, and answers
//! as API Gateway would for connections the test declares gone (410 `GoneException`) or slow.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

/// One post: the connection it was for and the frame, parsed.
#[derive(Clone, Debug)]
pub struct Post {
    pub connection: String,
    pub frame: Value,
    /// The frame's size as posted.
    pub bytes: usize,
}

#[derive(Default)]
struct Recorded {
    posts: Vec<Post>,
    gone: HashSet<String>,
    /// Posts answered 410, by connection.
    refused: HashMap<String, usize>,
    slow: HashMap<String, Duration>,
    unsigned: usize,
    /// `DeleteConnection`s, by connection.
    deleted: Vec<String>,
}

#[derive(Clone)]
pub struct PushRecorder {
    recorded: Arc<Mutex<Recorded>>,
    /// The endpoint to give the function: `http://127.0.0.1:<port>/<stage>`.
    pub endpoint: String,
}

pub use testkit::lambda_events::STAGE;

impl PushRecorder {
    pub async fn start() -> Self {
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let app =
            Router::new().route("/{stage}/@connections/{id}", post(record).delete(delete)).with_state(recorded.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let endpoint = format!("http://{}/{STAGE}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { recorded, endpoint }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every post so far, and forgets them.
    pub fn take(&self) -> Vec<Post> {
        std::mem::take(&mut self.lock().posts)
    }

    /// The frames posted to `connection` so far, in order (without forgetting them).
    pub fn frames_for(&self, connection: &str) -> Vec<Value> {
        self.lock().posts.iter().filter(|p| p.connection == connection).map(|p| p.frame.clone()).collect()
    }

    /// From now on, posts to `connection` answer 410 as for a connection API Gateway closed.
    pub fn close(&self, connection: &str) {
        self.lock().gone.insert(connection.to_owned());
    }

    /// Posts to `connection` answered 410.
    pub fn refused(&self, connection: &str) -> usize {
        self.lock().refused.get(connection).copied().unwrap_or(0)
    }

    /// From now on, posts to `connection` are answered only after `delay`.
    pub fn slow_down(&self, connection: &str, delay: Duration) {
        self.lock().slow.insert(connection.to_owned(), delay);
    }

    /// The connections closed (`DeleteConnection`) so far, and forgets them.
    pub fn deleted(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().deleted)
    }

    /// Posts that came without a SigV4 `Authorization` header.
    pub fn unsigned(&self) -> usize {
        self.lock().unsigned
    }
}

/// `DeleteConnection` (API reference: `DELETE /@connections/{connectionId}`, 204).
async fn delete(State(recorded): State<Arc<Mutex<Recorded>>>, Path((stage, id)): Path<(String, String)>) -> Response {
    assert_eq!(stage, STAGE, "deletes go to the configured stage");
    recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).deleted.push(id);
    StatusCode::NO_CONTENT.into_response()
}

async fn record(
    State(recorded): State<Arc<Mutex<Recorded>>>,
    Path((stage, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    assert_eq!(stage, STAGE, "posts go to the configured stage");
    let delay = {
        let mut recorded = recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let signed = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256"));
        if !signed {
            recorded.unsigned += 1;
        }
        if recorded.gone.contains(&id) {
            *recorded.refused.entry(id).or_default() += 1;
            return gone();
        }
        let frame = serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
        recorded.posts.push(Post { connection: id.clone(), frame, bytes: body.len() });
        recorded.slow.get(&id).copied()
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    StatusCode::OK.into_response()
}

/// The answer of the stage's management endpoint for a connection it no longer holds: 410, and
/// the error type in a header, where AWS's SDK reads `GoneException` from.
pub fn gone() -> Response {
    let body = r#"{"message":"the connection is gone"}"#;
    (StatusCode::GONE, [("x-amzn-errortype", "GoneException")], body).into_response()
}
