//! API Gateway WebSocket API events, on Lambda:
//!
//! * `$connect` authenticates the caller exactly as `GET /v1/stream` does (`Authorization:
//!   Bearer`, or the `bearer.<token>` subprotocol beside `messaging.v1`) and records the
//!   connection; 401 refuses it. With `include=membership` in its URL, as the stream's, the
//!   connection is pushed membership entries too, and every resume sends them.
//! * `$disconnect` forgets it.
//! * Messages (route `$default`): `{"action":"resume","after":"<cursor>"}` sends the feed's
//!   entries after the cursor to this connection, oldest first, several to a `messages` frame,
//!   then `caught_up` — or, past [`RESUME_LIMIT`] entries or near the invocation's deadline,
//!   `behind` with the cursor to resume from. API Gateway accepts no
//!   post before `$connect` has returned, so catching up is a message of the client's, sent once
//!   it is connected. `{"action":"ping"}` only keeps the connection alive (API Gateway closes one
//!   idle for 10 minutes). `{"action":"reauth","access_token":"…"}` moves the connection to a
//!   fresh token of the same user (`reauthed`). Anything else is answered with an `error` frame.
//! * Limits: `$connect` counts `connects_per_user` and is refused (429) past it or past
//!   `connections_per_user`, recording nothing; every message counts `socket_messages_per_user`
//!   and past it is answered with an `error` frame `rate_limited` and not acted on.
//! * A connection whose token expired unextended gets no pushes; whatever it sends next is
//!   answered `session_expired` and the connection closed (`DeleteConnection`), as a local stream
//!   is closed with 4003 — nothing runs on AWS at the moment a token expires. Every message
//!   therefore reads the connection's record, pings included (one read).

use axum::Json;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambda_http::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequestContext;

use std::time::Duration;

use super::Push;
use super::frames::Packer;
use crate::api::AppState;
use crate::api::Delivery;
use crate::api::error::{ApiError, ErrorBody, ErrorDetail};
use crate::api::extract::{QueryParams, cursor_after};
use crate::api::stream::StreamCaller;
use crate::deadline;
use crate::domain::conversation::include_membership;
use crate::domain::session::now;
use crate::domain::{ConnectionId, Cursor, Rule};
use crate::protocol::{CLIENT_MESSAGES, CatchUp, ClientMessage, PROTOCOL, StreamFrame, reauth};
use crate::store::connections::ConnectionRecord;

/// Entries one resume sends; more wait for the next resume (or a poll).
pub use contract::limits::RESUME_LIMIT;
const RESUME_PAGE: usize = 100;
/// A resume stops reading (and says `behind`) with less than this left before the invocation's
/// deadline: time for its last frames and the answer.
const RESUME_RESERVE: Duration = Duration::from_secs(1);

/// What a `$connect`'s URL may ask.
#[derive(serde::Deserialize)]
struct ConnectQuery {
    include: Option<String>,
}

/// Why an event got no normal answer: not one this function handles, or what the HTTP API would
/// refuse (a `$connect` without a valid token, the store unavailable).
#[derive(Debug, thiserror::Error)]
enum EventError {
    #[error("not an API Gateway WebSocket event this function handles")]
    Unknown,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl IntoResponse for EventError {
    fn into_response(self) -> Response {
        match self {
            Self::Unknown => {
                let error = ErrorDetail { code: "invalid_websocket_event", message: self.to_string() };
                (StatusCode::BAD_REQUEST, Json(ErrorBody { error })).into_response()
            }
            Self::Api(error) => error.into_response(),
        }
    }
}

/// One WebSocket event, by its type.
pub async fn handle(
    state: &AppState,
    push: &Push,
    context: &ApiGatewayWebsocketProxyRequestContext,
    request: lambda_http::Request,
) -> Response {
    let Some(connection) = context.connection_id.as_deref().and_then(ConnectionId::parse) else {
        return EventError::Unknown.into_response();
    };
    let outcome = match context.event_type.as_deref() {
        Some("CONNECT") => connect(state, push, &connection, request).await,
        Some("DISCONNECT") => push
            .connections()
            .close_connection(&connection)
            .await
            .map(|_| empty())
            .map_err(|e| ApiError::from(e).into()),
        Some("MESSAGE") => {
            message(state, push, &connection, request.body().as_ref()).await;
            Ok(empty())
        }
        _ => Err(EventError::Unknown),
    };
    outcome.unwrap_or_else(IntoResponse::into_response)
}

fn empty() -> Response {
    (StatusCode::OK, Body::empty()).into_response()
}

async fn connect(
    state: &AppState,
    push: &Push,
    connection: &ConnectionId,
    request: lambda_http::Request,
) -> Result<Response, EventError> {
    let (mut parts, _) = request.into_parts();
    let StreamCaller(claims) = StreamCaller::from_request_parts(&mut parts, state).await?;
    // As `GET /v1/stream`'s: the URL's query (API Gateway's `queryStringParameters`) may ask
    // for membership entries, which this connection is then pushed, and sent by every resume.
    let QueryParams(query) = QueryParams::<ConnectQuery>::from_request_parts(&mut parts, state).await?;
    let membership = include_membership(query.include.as_deref()).map_err(ApiError::from)?;
    // A refusal (429) refuses the connection; `connections_per_user` is the store's to check,
    // as it records the connection.
    state.store.charge(Rule::ConnectsPerUser, claims.user.as_str(), 1).await.map_err(ApiError::from)?;
    let record = ConnectionRecord::new(connection.clone(), claims, now(), membership);
    push.connections().open_connection(&record).await.map_err(ApiError::from)?;
    let mut response = empty();
    // A browser that offered subprotocols drops a connection whose answer names none of them.
    let offered = parts.headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok());
    if offered.flat_map(|value| value.split(',')).any(|protocol| protocol.trim() == PROTOCOL) {
        response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    }
    Ok(response)
}

async fn message(state: &AppState, push: &Push, connection: &ConnectionId, body: &[u8]) {
    let record = match push.connections().connection_owner(connection).await {
        Ok(Some(record)) => record,
        // Not recorded (its `$connect` failed, or it outlived its record): it should reconnect.
        Ok(None) => {
            let _ = push.gateway.post(connection, unknown_connection()).await;
            return;
        }
        Err(error) => {
            let error = ApiError::from(error);
            let _ = push.gateway.post(connection, api_error_frame(&error)).await;
            return;
        }
    };
    // Expired unextended, as a local stream is closed at its token's expiry (4003): told why,
    // then closed, so that the client reconnects with a fresh token. A reauth comes too late.
    if !record.is_live(now()) {
        let text = "the access token expired: reconnect with a fresh one".to_owned();
        push.post(&record, error_frame("session_expired", text)).await;
        push.disconnect(std::slice::from_ref(connection)).await;
        return;
    }
    // Every message counts, whatever it asks: each is an invocation and a read at least.
    if let Err(refused) = state.store.charge(Rule::SocketMessagesPerUser, record.user.as_str(), 1).await {
        push.post(&record, api_error_frame(&ApiError::from(refused))).await;
        return;
    }
    match serde_json::from_slice::<ClientMessage>(body) {
        Ok(ClientMessage::Ping) => {}
        Ok(ClientMessage::Resume { after, include }) => match include_membership(include.as_deref()) {
            Ok(asked) => resume(state, push, &record, after.as_deref(), asked || record.membership).await,
            Err(invalid) => {
                push.post(&record, api_error_frame(&ApiError::from(invalid))).await;
            }
        },
        Ok(ClientMessage::Reauth { access_token }) => {
            let frame = extend(state, push, &record, &access_token).await;
            push.post(&record, frame).await;
        }
        Err(error) => {
            let text = format!("expected {CLIENT_MESSAGES}: {error}");
            push.post(&record, error_frame("invalid_message", text)).await;
        }
    }
}

/// A `reauth` of `record`'s connection: `reauthed` once its record carries the fresh token's
/// session and expiry, or the `error` frame that says why not.
async fn extend(state: &AppState, push: &Push, record: &ConnectionRecord, access_token: &str) -> Vec<u8> {
    let claims = match reauth(&state.keys, &record.user, access_token, now()) {
        Ok(claims) => claims,
        Err(refused) => return refused.to_bytes(),
    };
    let expires_in = claims.expires_at.saturating_sub(now());
    let extended = ConnectionRecord { session: claims.session, expires_at: claims.expires_at, ..record.clone() };
    match push.connections().extend_connection(&extended).await {
        Ok(true) => StreamFrame::Reauthed { expires_in }.to_bytes(),
        Ok(false) => unknown_connection(),
        Err(error) => api_error_frame(&ApiError::from(error)),
    }
}

/// Sends the entries after `after`, packed several to a frame, one frame after another (posts to
/// one connection in flight together could arrive out of order), then `caught_up` — or `behind`
/// at the limit of entries, or when the invocation's deadline is near.
async fn resume(state: &AppState, push: &Push, record: &ConnectionRecord, after: Option<&str>, membership: bool) {
    let user = &record.user;
    let Cursor(after) = match cursor_after(state, user, after) {
        Ok(cursor) => cursor,
        Err(error) => {
            push.post(record, api_error_frame(&error)).await;
            return;
        }
    };
    let mut pages = CatchUp::after(user, after, RESUME_PAGE, RESUME_LIMIT);
    let mut packer = Packer::new(&state.keys, user, after);
    let mut out_of_time = false;
    loop {
        if deadline::cut(RESUME_RESERVE) < RESUME_RESERVE {
            out_of_time = true;
            break;
        }
        let page = match pages.next_page(&*state.store).await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(error) => {
                push.post(record, api_error_frame(&ApiError::from(error))).await;
                return;
            }
        };
        for (seq, message) in page {
            if message.is_membership() && !membership {
                continue;
            }
            if let Some(frame) = packer.push(seq, message)
                && !push.post(record, frame).await
            {
                return;
            }
        }
    }
    if let Some(frame) = packer.finish()
        && !push.post(record, frame).await
    {
        return;
    }
    let caught_up = pages.caught_up() && !out_of_time;
    // Behind, the next resume goes on from what was read, past any membership entries left
    // out: a feed of nothing else still moves on.
    let up_to = if caught_up { packer.sent_up_to() } else { pages.last() };
    let cursor = state.keys.encode_cursor(user, Cursor(up_to));
    let last = if caught_up { StreamFrame::CaughtUp { cursor } } else { StreamFrame::Behind { cursor } };
    push.post(record, last.to_bytes()).await;
}

fn unknown_connection() -> Vec<u8> {
    error_frame("unknown_connection", "this connection is not recorded: reconnect".to_owned())
}

fn error_frame(code: &'static str, message: String) -> Vec<u8> {
    StreamFrame::Error { code, message }.to_bytes()
}

/// An error the HTTP API would answer, as a frame with the same code and message.
fn api_error_frame(error: &ApiError) -> Vec<u8> {
    error_frame(error.status_and_code().1, error.to_string())
}
