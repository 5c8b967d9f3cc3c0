//! API Gateway WebSocket API events, on Lambda:
//!
//! * `$connect` authenticates the caller exactly as `GET /v1/stream` does (`Authorization:
//!   Bearer`, or the `bearer.<token>` subprotocol beside `messaging.v1`) and records the
//!   connection; 401 refuses it.
//! * `$disconnect` forgets it.
//! * Messages (route `$default`): `{"action":"resume","after":"<cursor>"}` sends the feed's
//!   entries after the cursor to this connection, oldest first, then `caught_up` — or, past
//!   [`RESUME_LIMIT`] entries, `behind` with the cursor to resume from. API Gateway accepts no
//!   post before `$connect` has returned, so catching up is a message of the client's, sent once
//!   it is connected. `{"action":"ping"}` only keeps the connection alive (API Gateway closes one
//!   idle for 10 minutes). Anything else is answered with an `error` frame.

use axum::Json;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambda_http::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequestContext;

use super::Push;
use crate::api::AppState;
use crate::api::error::{ApiError, ErrorBody, ErrorDetail};
use crate::api::extract::cursor_after;
use crate::api::stream::StreamCaller;
use crate::domain::{ConnectionId, Cursor, UserId};
use crate::protocol::{CLIENT_MESSAGES, CatchUp, ClientMessage, PROTOCOL, StreamFrame};

/// Entries one resume sends; more wait for the next resume (or a poll).
pub use contract::limits::RESUME_LIMIT;
const RESUME_PAGE: usize = 100;

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
    let user = claims.user;
    push.connections().open_connection(&user, connection).await.map_err(ApiError::from)?;
    let mut response = empty();
    // A browser that offered subprotocols drops a connection whose answer names none of them.
    let offered = parts.headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok());
    if offered.flat_map(|value| value.split(',')).any(|protocol| protocol.trim() == PROTOCOL) {
        response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    }
    Ok(response)
}

async fn message(state: &AppState, push: &Push, connection: &ConnectionId, body: &[u8]) {
    // A ping costs nothing but the invocation: no lookup.
    let after = match serde_json::from_slice::<ClientMessage>(body) {
        Ok(ClientMessage::Ping) => return,
        Ok(ClientMessage::Resume { after }) => Ok(after),
        // Not yet on AWS: a connection lives until API Gateway's 2-hour limit.
        Ok(ClientMessage::Reauth { .. }) => Err("reauth is not supported on this connection yet".to_owned()),
        Err(error) => Err(format!("expected {CLIENT_MESSAGES}: {error}")),
    };
    let user = match push.connections().connection_owner(connection).await {
        Ok(Some(user)) => user,
        // Not recorded (its `$connect` failed, or it outlived its record): it should reconnect.
        Ok(None) => {
            let text = "this connection is not recorded: reconnect".to_owned();
            let _ = push.gateway.post(connection, error_frame("unknown_connection", text)).await;
            return;
        }
        Err(error) => {
            let error = ApiError::from(error);
            let _ = push.gateway.post(connection, api_error_frame(&error)).await;
            return;
        }
    };
    match after {
        Ok(after) => resume(state, push, &user, connection, after.as_deref()).await,
        Err(text) => {
            push.post(&user, connection, error_frame("invalid_message", text)).await;
        }
    }
}

/// Sends the entries after `after`, in order, one post at a time (posts to one connection in
/// flight together could arrive out of order).
async fn resume(state: &AppState, push: &Push, user: &UserId, connection: &ConnectionId, after: Option<&str>) {
    let Cursor(after) = match cursor_after(state, user, after) {
        Ok(cursor) => cursor,
        Err(error) => {
            let frame = api_error_frame(&error);
            push.post(user, connection, frame).await;
            return;
        }
    };
    let mut pages = CatchUp::after(user, after, RESUME_PAGE, RESUME_LIMIT);
    loop {
        let page = match pages.next_page(&*state.store).await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(error) => {
                let error = ApiError::from(error);
                let frame = api_error_frame(&error);
                push.post(user, connection, frame).await;
                return;
            }
        };
        for (seq, message) in &page {
            if !push.post(user, connection, push.message_frame(user, *seq, message.raw())).await {
                return;
            }
        }
    }
    let cursor = state.keys.encode_cursor(user, Cursor(pages.last()));
    let last = if pages.caught_up() { StreamFrame::CaughtUp { cursor } } else { StreamFrame::Behind { cursor } };
    push.post(user, connection, last.to_bytes()).await;
}

fn error_frame(code: &'static str, message: String) -> Vec<u8> {
    StreamFrame::Error { code, message }.to_bytes()
}

/// An error the HTTP API would answer, as a frame with the same code and message.
fn api_error_frame(error: &ApiError) -> Vec<u8> {
    error_frame(error.status_and_code().1, error.to_string())
}
