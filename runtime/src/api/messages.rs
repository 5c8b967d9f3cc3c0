use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, FeedQuery, JsonBody, PathParams, QueryParams, cursor_after, group_id, user_id};
use crate::domain::message::Outgoing;
use crate::domain::{ClientId, Cursor, Invalid, Message, Recipient, Text, UserId};
use serde_json::value::RawValue;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// 1–4000 characters, at least one not whitespace, no control character but tab, line feed
    /// and carriage return (so the JSON of a text is at most 4 bytes a character); stored exactly
    /// as sent.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "hello"
    )]
    pub text: String,
    /// Optional idempotency key (1–64 characters, no control characters), scoped to the sender:
    /// resending with the same key returns the original message instead of sending it twice.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", example = "msg-1")]
    pub client_id: Option<String>,
}

/// The OpenAPI description of a message. The JSON itself is the serde form of
/// [`Message`], which the stores keep as is; a test checks the two agree.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MessageView {
    id: String,
    /// Sender's user id.
    from: String,
    /// Recipient user id (direct) or group id (group).
    to: String,
    #[schema(example = "direct")]
    kind: MessageKind,
    text: String,
    /// RFC 3339, UTC, milliseconds.
    #[schema(example = "2026-11-23T04:11:29.123Z")]
    sent_at: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum MessageKind {
    Direct,
    Group,
}

#[derive(Serialize, ToSchema)]
pub struct FeedView<'a> {
    /// Oldest first, exactly as stored. With `include=membership`, membership entries too
    /// (`{"kind":"membership","group","change":"added"|"removed","by","at"}`).
    #[schema(value_type = Vec<MessageView>)]
    pub messages: Vec<&'a RawValue>,
    /// Pass as `after` in the next poll. Always present; equal to `after` when nothing is new.
    pub next: String,
    /// More messages were waiting past this page: poll again right away.
    pub has_more: bool,
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 500;

async fn send(state: &AppState, from: UserId, to: Recipient, body: NewMessage) -> Result<Response, ApiError> {
    let text = Text::parse(body.text)?;
    let client_id = body.client_id.as_deref().map(ClientId::parse).transpose()?;
    let outgoing = Outgoing { message: Message::new(from, to, text), client_id };
    let sent = state.store.send(&outgoing).await?;
    if let Some(delivery) = &state.delivery {
        delivery.deliver(&sent).await;
    }
    let status = if sent.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(&sent.message)).into_response())
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
) -> Result<Response, ApiError> {
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
) -> Result<Response, ApiError> {
    send(&state, caller, Recipient::Group(group_id(&to)?), body).await
}

pub fn parse_limit(raw: Option<&str>) -> Result<usize, Invalid> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        // Digits only: `+5` would parse, but it is not how the document says to write an integer.
        Some(raw) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => {
            raw.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or(Invalid::Limit)
        }
        Some(_) => Err(Invalid::Limit),
    }
}

/// Poll the caller's feed: every message they sent or received, in delivery order.
#[utoipa::path(get, path = "/v1/messages", tag = "messages", security(("bearer" = [])),
    params(("after" = Option<String>, Query, pattern = r"^[A-Za-z0-9_-]{27}$",
            description = "the `next` of the previous poll, exactly as received; omit to start at the beginning"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "messages per page, default 100"),
        ("include" = Option<String>, Query, pattern = "^membership$",
            description = "`membership`: also return the caller's membership entries (added to or removed from a group). Without it they are left out, and the cursor still moves past them")),
    responses((status = 200, body = FeedView,
            description = "at most `limit` messages and at most 1 MiB of them (at least one), then `has_more`"), (status = 400, description = "bad cursor or limit", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn poll(
    Caller(caller): Caller,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<FeedQuery>,
) -> Result<Response, ApiError> {
    let after = cursor_after(&state, &caller, query.after.as_deref())?;
    let limit = parse_limit(query.limit.as_deref())?;
    let membership = crate::domain::conversation::include_membership(query.include.as_deref())?;
    let page = state.store.feed(&caller, after.0, limit).await?;
    let last = page.entries.last().map_or(after, |(seq, _)| Cursor(*seq));
    let view = FeedView {
        messages: page
            .entries
            .iter()
            .filter(|(_, entry)| membership || !entry.is_membership())
            .map(|(_, message)| message.raw())
            .collect(),
        next: state.keys.encode_cursor(&caller, last),
        has_more: page.has_more,
    };
    Ok(Json(view).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_five_hundred_are_refused() {
        assert_eq!(parse_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("1")), Ok(1));
        assert_eq!(parse_limit(Some("500")), Ok(500));
        for bad in ["0", "501", "-1", "+5", " 5", "", "ten", "1.5", "99999999999999999999999"] {
            assert_eq!(parse_limit(Some(bad)), Err(Invalid::Limit), "{bad}");
        }
    }
}
