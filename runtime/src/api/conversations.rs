//! Conversations: the inbox, one conversation's history, read positions and receipts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, JsonBody, PathParams, QueryParams};
use super::messages::{MessageView, parse_limit};
use crate::domain::conversation::{Conversation, HistoryFrom, InboxCursor, ReadOutcome, Vouched};
use crate::domain::{ConversationId, Invalid, Keys, MessageId, Number, ReadMark, Rejection, UserId};

/// A conversation in the inbox.
#[derive(Serialize, ToSchema)]
pub struct ConversationView<'a> {
    /// The peer's user id (the caller's own for notes to themself) or the group's id.
    id: &'a str,
    #[schema(example = "direct")]
    kind: &'static str,
    /// The peer's or the group's name.
    name: &'a str,
    /// The newest message the caller received or sent here; `null` in a group without messages
    /// since they joined.
    #[schema(value_type = Option<MessageView>)]
    last_message: Option<&'a RawValue>,
    /// Messages others sent after the caller's read position (their own sends move it). Exact.
    unread: u64,
    /// The id of the message the caller has read up to, `null` before they read any.
    #[schema(value_type = Option<String>)]
    read_up_to: Option<&'a MessageId>,
    /// RFC 3339, UTC, milliseconds: the newest message's `sent_at`, or when the caller joined.
    updated_at: String,
}

fn rfc3339(millis: u64) -> String {
    DateTime::from_timestamp_millis(i64::try_from(millis).unwrap_or(i64::MAX))
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl<'a> ConversationView<'a> {
    fn of(conversation: &'a Conversation) -> Self {
        Self {
            id: conversation.id.as_str(),
            kind: conversation.id.kind(),
            name: conversation.name.as_str(),
            last_message: conversation.last_message.as_ref().map(|json| json.raw()),
            unread: conversation.unread,
            read_up_to: conversation.read_up_to.as_ref(),
            updated_at: rfc3339(conversation.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InboxView<'a> {
    /// Most recent activity first.
    conversations: Vec<ConversationView<'a>>,
    /// Pass as `before` for the next page; `null` on the last.
    next: Option<String>,
}

/// `GET /v1/conversations` parameters, kept as strings so each gets its own precise error.
#[derive(Deserialize)]
pub struct InboxQuery {
    before: Option<String>,
    limit: Option<String>,
}

fn encode_inbox_cursor(cursor: &InboxCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", cursor.updated_at, cursor.id))
}

fn decode_inbox_cursor(raw: &str) -> Result<InboxCursor, Invalid> {
    let text = URL_SAFE_NO_PAD.decode(raw).ok().and_then(|bytes| String::from_utf8(bytes).ok());
    let (at, id) = text.as_deref().and_then(|text| text.split_once('.')).ok_or(Invalid::Cursor)?;
    let updated_at = at.parse().map_err(|_| Invalid::Cursor)?;
    ConversationId::parse(id).ok_or(Invalid::Cursor)?;
    Ok(InboxCursor { updated_at, id: id.to_owned() })
}

/// The caller's conversations, most recent activity first.
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", security(("bearer" = [])),
    params(("before" = Option<String>, Query, description = "the `next` of the previous page"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "conversations per page, default 100")),
    responses((status = 200, body = InboxView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn inbox(
    Caller(caller): Caller,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<InboxQuery>,
) -> Result<Response, ApiError> {
    let before = query.before.as_deref().map(decode_inbox_cursor).transpose()?;
    let limit = parse_limit(query.limit.as_deref())?;
    let page = state.store.inbox(&caller, before.as_ref(), limit).await?;
    let view = InboxView {
        conversations: page.conversations.iter().map(ConversationView::of).collect(),
        next: page.next.as_ref().map(encode_inbox_cursor),
    };
    Ok(Json(view).into_response())
}

fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    ConversationId::parse(raw).ok_or(ApiError::Rejected(Rejection::UnknownConversation))
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView<'a> {
    /// Newest first without a cursor or with `before`; oldest first with `after`.
    #[schema(value_type = Vec<MessageView>)]
    messages: Vec<&'a RawValue>,
    /// Continues in the same direction: pass it as the same parameter (`before` or `after`).
    /// Going back, `null` at the conversation's start; going forward, always present.
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

fn encode_position(n: Number) -> String {
    URL_SAFE_NO_PAD.encode(format!("h{}", n.0))
}

/// A page's `next`: signed when the store vouched for something ([`Vouched`]).
fn encode_next(keys: &Keys, caller: &UserId, id: &ConversationId, n: Number, vouched: Option<&Vouched>) -> String {
    match vouched {
        Some(vouched) => keys.encode_history_cursor(caller, id.as_str(), n, vouched),
        None => encode_position(n),
    }
}

/// A page's `next`, or the id of a message of the conversation (a `read_up_to`, say).
fn decode_position(
    keys: &Keys,
    caller: &UserId,
    id: &ConversationId,
    raw: &str,
) -> Result<(Number, Option<Vouched>), Invalid> {
    if let Some(number) = MessageId::parse(raw).and_then(|id| id.number()) {
        return Ok((number, None));
    }
    if raw.contains('.') {
        return keys.decode_history_cursor(caller, id.as_str(), raw).map(|(n, vouched)| (n, Some(vouched)));
    }
    let text = URL_SAFE_NO_PAD.decode(raw).ok().and_then(|bytes| String::from_utf8(bytes).ok());
    let digits = text.as_deref().and_then(|text| text.strip_prefix('h')).ok_or(Invalid::Cursor)?;
    digits.parse().map(|n| (Number(n), None)).map_err(|_| Invalid::Cursor)
}

/// One conversation's messages as the caller received and sent them there.
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/messages", tag = "conversations",
    security(("bearer" = [])),
    params(("conversation_id" = String, Path, description = "a peer's user id or a group id"),
        ("before" = Option<String>, Query, description = "newest first, before this: a page's `next`, or a message id of the conversation"),
        ("after" = Option<String>, Query, description = "oldest first, after this: a page's `next`, or a message id (`read_up_to`: what is unread)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "messages per page, default 100")),
    responses((status = 200, body = HistoryView, description = "at most `limit` messages and at most 1 MiB of them (at least one)"),
        (status = 400, description = "bad cursor or limit, or both `before` and `after`", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    let position = |raw| decode_position(&state.keys, &caller, &id, raw);
    let (from, vouched) = match (query.before.as_deref(), query.after.as_deref()) {
        (None, None) => (HistoryFrom::Newest, None),
        (Some(before), None) => position(before).map(|(n, v)| (HistoryFrom::Before(n), v))?,
        (None, Some(after)) => position(after).map(|(n, v)| (HistoryFrom::After(n), v))?,
        (Some(_), Some(_)) => return Err(Invalid::BothDirections.into()),
    };
    let limit = parse_limit(query.limit.as_deref())?;
    let page = state
        .store
        .history(&caller, &id, from, vouched.as_ref(), limit)
        .await?
        .ok_or(Rejection::UnknownConversation)?;
    let next = page.next.map(|next| match next {
        HistoryFrom::Before(n) | HistoryFrom::After(n) => {
            encode_next(&state.keys, &caller, &id, n, page.vouched.as_ref())
        }
        HistoryFrom::Newest => unreachable!("a page never continues from the newest"),
    });
    let view = HistoryView { messages: page.messages.iter().map(|(_, json)| json.raw()).collect(), next };
    Ok(Json(view).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadPosition {
    /// The id of a message of this conversation: the caller has read it and everything before.
    up_to: String,
}

/// Moves the caller's read position; an older message than the current position changes nothing.
#[utoipa::path(put, path = "/v1/conversations/{conversation_id}/read", tag = "conversations",
    security(("bearer" = [])), params(("conversation_id" = String, Path)), request_body = ReadPosition,
    responses((status = 204, description = "moved, or already there or further"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "no such conversation of the caller's, or no such message in it", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn mark_read(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<ReadPosition>,
) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    let message = MessageId::parse(&body.up_to).ok_or(Rejection::UnknownMessage)?;
    let mark = ReadMark::of(&message).ok_or(Rejection::UnknownMessage)?;
    match state.store.mark_read(&caller, &id, &mark).await? {
        ReadOutcome::Moved | ReadOutcome::Unchanged => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReceiptView<'a> {
    #[schema(value_type = String)]
    id: &'a crate::domain::UserId,
    #[schema(value_type = Option<String>)]
    read_up_to: Option<&'a MessageId>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationDetailView<'a> {
    #[serde(flatten)]
    conversation: ConversationView<'a>,
    /// Every member's read position (read receipts): for a direct conversation both users.
    members: Vec<ReceiptView<'a>>,
}

/// One conversation with each member's read position.
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}", operation_id = "show_conversation", tag = "conversations",
    security(("bearer" = [])), params(("conversation_id" = String, Path)),
    responses((status = 200, body = ConversationDetailView), (status = 401, body = ErrorBody),
        (status = 403, description = "a group the caller is no longer a member of", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn show(
    Caller(caller): Caller,
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = conversation_id(&id)?;
    let detail = state.store.conversation(&caller, &id).await?;
    let members =
        detail.members.iter().map(|r| ReceiptView { id: &r.user, read_up_to: r.read_up_to.as_ref() }).collect();
    let view = ConversationDetailView { conversation: ConversationView::of(&detail.conversation), members };
    Ok(Json(view).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = InboxCursor { updated_at: 1_700_000_000_123, id: "g_abc".into() };
        assert_eq!(decode_inbox_cursor(&encode_inbox_cursor(&cursor)), Ok(cursor));
        let (keys, caller) = (Keys::generate(), UserId::generate());
        let group = ConversationId::Group(crate::domain::GroupId::generate());
        let position = |raw: &str| decode_position(&keys, &caller, &group, raw);
        assert_eq!(position(&encode_position(Number(42))), Ok((Number(42), None)));
        let vouched = Vouched { spans: Vec::new(), above: 0, settled: 9 };
        let signed = encode_next(&keys, &caller, &group, Number(7), Some(&vouched));
        assert_eq!(position(&signed), Ok((Number(7), Some(vouched))));
        let elsewhere = ConversationId::Group(crate::domain::GroupId::generate());
        assert_eq!(decode_position(&keys, &caller, &elsewhere, &signed), Err(Invalid::Cursor));
        for bad in ["", "!!", "aA", "a.b", &URL_SAFE_NO_PAD.encode("hx"), &URL_SAFE_NO_PAD.encode("12")] {
            assert_eq!(position(bad), Err(Invalid::Cursor), "{bad}");
        }
        assert_eq!(decode_inbox_cursor(&URL_SAFE_NO_PAD.encode("12")), Err(Invalid::Cursor));
    }
}
