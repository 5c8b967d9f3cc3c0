use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, FeedQuery, JsonBody, PathParams, QueryParams, group_id, user_id};
use crate::domain::message::Outgoing;
use crate::domain::{ClientId, Cursor, Invalid, Message, Recipient, Seq, Text, UserId};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// 1–4000 characters, at least one not whitespace; stored exactly as sent.
    pub text: String,
    /// Optional idempotency key (1–64 characters), scoped to the sender: resending with the same
    /// key returns the original message instead of sending it twice.
    #[serde(default)]
    pub client_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    /// Sender's user id.
    pub from: String,
    /// Recipient user id (direct) or group id (group).
    pub to: String,
    #[schema(example = "direct")]
    pub kind: &'static str,
    pub text: String,
    /// RFC 3339, UTC, milliseconds.
    #[schema(example = "2026-11-23T04:11:29.123Z")]
    pub sent_at: String,
}

impl From<&Message> for MessageView {
    fn from(message: &Message) -> Self {
        Self {
            id: message.id.to_string(),
            from: message.from.to_string(),
            to: message.to.id().to_owned(),
            kind: message.to.kind(),
            text: message.text.as_str().to_owned(),
            sent_at: message.sent_at_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FeedView {
    /// Oldest first.
    pub messages: Vec<MessageView>,
    /// Pass as `after` in the next poll. Always present; equal to `after` when nothing is new.
    pub next: String,
    /// More messages were waiting past this page: poll again right away.
    pub has_more: bool,
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 500;

async fn send(
    state: &AppState,
    from: UserId,
    to: Recipient,
    body: NewMessage,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let text = Text::parse(body.text)?;
    let client_id = body.client_id.as_deref().map(ClientId::parse).transpose()?;
    let outgoing = Outgoing { message: Message::new(from, to, text), client_id };
    let sent = state.store.send(&outgoing).await?;
    let status = if sent.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(MessageView::from(&sent.message))))
}

/// Send a direct message.
#[utoipa::path(post, path = "/v1/users/{user_id}/messages", tag = "messages", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = NewMessage,
    responses((status = 201, body = MessageView), (status = 200, description = "replay of an earlier send with this client_id", body = MessageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "the recipient blocked the sender", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "client_id used for another message", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn send_direct(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams(to): PathParams<String>,
    JsonBody(body): JsonBody<NewMessage>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    send(&state, caller, Recipient::Direct(user_id(&to)?), body).await
}

/// Send a message to a group the caller is a member of.
#[utoipa::path(post, path = "/v1/groups/{group_id}/messages", tag = "messages", security(("bearer" = [])),
    params(("group_id" = String, Path)), request_body = NewMessage,
    responses((status = 201, body = MessageView), (status = 200, description = "replay of an earlier send with this client_id", body = MessageView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "not a member", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn send_group(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams(to): PathParams<String>,
    JsonBody(body): JsonBody<NewMessage>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    send(&state, caller, Recipient::Group(group_id(&to)?), body).await
}

fn parse_limit(raw: Option<&str>) -> Result<usize, Invalid> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or(Invalid::Limit),
    }
}

/// Poll the caller's feed: every message they sent or received, in delivery order.
#[utoipa::path(get, path = "/v1/messages", tag = "messages", security(("bearer" = [])),
    params(("after" = Option<String>, Query, description = "the `next` of the previous poll; omit to start at the beginning"),
        ("limit" = Option<u32>, Query, description = "1–500, default 100")),
    responses((status = 200, body = FeedView), (status = 400, description = "bad cursor or limit", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn poll(
    Caller(caller): Caller,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<FeedQuery>,
) -> Result<Json<FeedView>, ApiError> {
    let after = match query.after.as_deref() {
        None => Cursor(Seq::START),
        Some(encoded) => state.keys.decode_cursor(&caller, encoded)?,
    };
    let limit = parse_limit(query.limit.as_deref())?;
    let page = state.store.feed(&caller, after.0, limit).await?;
    let last = page.entries.last().map_or(after, |(seq, _)| Cursor(*seq));
    Ok(Json(FeedView {
        messages: page.entries.iter().map(|(_, message)| MessageView::from(message)).collect(),
        next: state.keys.encode_cursor(&caller, last),
        has_more: page.has_more,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_five_hundred_are_refused() {
        assert_eq!(parse_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("1")), Ok(1));
        assert_eq!(parse_limit(Some("500")), Ok(500));
        for bad in ["0", "501", "-1", "", "ten", "1.5", "99999999999999999999999"] {
            assert_eq!(parse_limit(Some(bad)), Err(Invalid::Limit), "{bad}");
        }
    }
}
