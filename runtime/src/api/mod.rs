//! HTTP: routes, extractors, and the mapping of every failure to a JSON error.

mod admin;
mod blocks;
mod conversations;
pub mod error;
pub(crate) mod extract;
mod groups;
mod messages;
mod open_streams;
mod openapi;
pub mod rate_limit;
pub mod sessions;
pub mod signouts;
pub mod source;
pub mod stream;
mod system;
mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use self::error::ApiError;
pub use self::open_streams::OpenStreams;
pub use self::openapi::openapi;
use self::rate_limit::RateLimiter;
pub use self::sessions::SessionPolicy;
pub use self::stream::{ConnectionContext, StreamLimits};
use async_trait::async_trait;

use crate::domain::{ConnectionId, Keys, Sent, SessionId, UserId};
use crate::identity::IdentityProvider;
use crate::store::{Appended, Store};

/// Request bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_group_size: usize,
    /// From the handler asking for the body to its last byte.
    pub body_read_timeout: Duration,
    pub stream: StreamLimits,
}

/// Everything a handler needs, built once at start-up and shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: Arc<Keys>,
    pub limits: Limits,
    pub sessions: SessionPolicy,
    /// Verifies `POST /v1/sessions`' identity tokens; `None`: no identity provider is configured.
    pub identity: Option<Arc<IdentityProvider>>,
    /// Tells this process's open streams of a session that it was signed out.
    pub signouts: Arc<signouts::Signouts>,
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// Each user's open streams, for `connections_per_user` (local server).
    pub streams: Arc<OpenStreams>,
    /// What else a committed send does: on Lambda with a WebSocket API, push its message.
    pub delivery: Option<Arc<dyn Delivery>>,
}

/// Delivery of a committed send beyond the feeds (push on AWS). A trait of the API's, so the API
/// does not depend on how, or whether, messages are pushed.
#[async_trait]
pub trait Delivery: Send + Sync {
    /// Best effort and bounded in time: the send has committed, and answers whatever happens here.
    async fn deliver(&self, sent: &Sent);

    /// A membership entry, to the member's connections that asked for such entries; as
    /// [`Delivery::deliver`], best effort and bounded in time.
    async fn deliver_entry(&self, appended: &Appended);

    /// Closes these connections (their user was erased); best effort and bounded in time.
    async fn disconnect(&self, connections: &[ConnectionId]);

    /// Closes the connections of `user`'s `session` (every session's with `None`): it was
    /// signed out. Best effort and bounded in time.
    async fn sign_out(&self, user: &UserId, session: Option<&SessionId>);
}

/// The whole API as one router, whatever serves it.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The API and `extra` routes (the local server's demo page) under the same layers: traced, and
/// a panic answered as anywhere else.
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let v1 = Router::new()
        .route("/users", post(users::register))
        .route("/users/{user_id}", get(users::get_user))
        .route("/sessions", post(sessions::sign_in).delete(sessions::logout_everywhere))
        .route("/sessions/current", delete(sessions::logout))
        .route("/sessions/refresh", post(sessions::refresh))
        .route("/admin/users/{app_user_id}", put(admin::upsert_user).delete(admin::erase_user))
        .route("/admin/users/{app_user_id}/sessions", post(admin::start_session).delete(admin::revoke_sessions))
        .route("/users/{user_id}/messages", post(messages::send_direct))
        .route("/me/blocks", get(blocks::list))
        .route("/me/blocks/{user_id}", put(blocks::block).delete(blocks::unblock))
        .route("/groups", post(groups::create))
        .route("/groups/{group_id}", get(groups::show))
        .route("/groups/{group_id}/members/{user_id}", put(groups::add_member).delete(groups::remove_member))
        .route("/groups/{group_id}/messages", post(messages::send_group))
        .route("/messages", get(messages::poll))
        .route("/conversations", get(conversations::inbox))
        .route("/conversations/{conversation_id}", get(conversations::show))
        .route("/conversations/{conversation_id}/messages", get(conversations::history))
        .route("/conversations/{conversation_id}/read", put(conversations::mark_read));
    // Only a store that sees every commit can tell a stream about each new entry.
    let v1 = if state.store.feed_events().is_some() { v1.route("/stream", get(stream::open)) } else { v1 };
    Router::new()
        .route("/health", get(system::health))
        .route("/openapi.json", get(system::openapi_json))
        .nest("/v1", v1)
        .merge(extra)
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(extract::refuse_declared_oversize))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal("handler panicked".into()).into_response()))
        .with_state(state)
}
