//! The feed on the wire, one protocol for the local stream (`GET /v1/stream`) and for push over
//! API Gateway's WebSocket API: the subprotocol, the JSON frames, the close codes, and catching up
//! from a cursor page by page.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::error::ApiError;
use crate::domain::{AccessClaims, Keys, MessageJson, Seq, TokenError, UnixSecs, UserId};
use crate::store::{Store, StoreResult};

/// The subprotocol the server speaks, and answers with when a client offers it.
pub const PROTOCOL: &str = "messaging.v1";
/// Browsers cannot set headers on a WebSocket; they offer the token as a subprotocol instead,
/// `bearer.<token>`, beside [`PROTOCOL`]. Unlike a query parameter, it never lands in access logs.
pub const BEARER_PROTOCOL_PREFIX: &str = "bearer.";

/// Close codes of the local stream, beside the standard 1001 (server shutting down) and 1013
/// (store unavailable).
pub const CLOSE_BEHIND: u16 = 4000;
pub const CLOSE_TOO_SLOW: u16 = 4001;
/// The access token the stream was opened (or last reauthenticated) with has expired.
pub const CLOSE_SESSION_EXPIRED: u16 = 4003;
/// The stream's session was signed out (logout, sign-out everywhere, the server API's revoke).
pub const CLOSE_SIGNED_OUT: u16 = 4004;

/// What a client sends on a stream, as JSON text frames with an `action` — locally and on AWS.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Send the feed's entries after `after` (the start without it), then `caught_up`.
    Resume {
        #[serde(default)]
        after: Option<String>,
        /// `"membership"`: membership entries too (left out otherwise, as in a poll).
        #[serde(default)]
        include: Option<String>,
    },
    /// Keeps the connection alive; answers nothing.
    Ping,
    /// Extends the stream with a fresh access token of the same user, instead of reconnecting.
    Reauth { access_token: String },
}

/// What a client may send, for error messages.
pub const CLIENT_MESSAGES: &str = r#"{"action":"resume","after":"<cursor>"} (optionally "include":"membership"), {"action":"ping"} or {"action":"reauth","access_token":"<token>"}"#;

/// What a stream sends, as JSON text frames with a `type` — locally and on AWS alike.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamFrame<'a> {
    /// One feed entry, the cursor just past it, and the cursor just before it: a client whose
    /// cursor is not `after` has missed something (on AWS, where pushes are best effort and may
    /// arrive out of order) and polls from its own cursor instead.
    Message { message: &'a RawValue, cursor: String, after: String },
    /// On AWS, a resume's entries several to a frame (as many as fit in API Gateway's 32 KB
    /// frame), oldest first: `cursor` is just past the last, `after` just before the first, as
    /// for one `message`.
    Messages { messages: Vec<&'a RawValue>, cursor: String, after: String },
    /// Everything stored when the stream opened (or a resume asked) has been sent; what follows
    /// is live.
    CaughtUp { cursor: String },
    /// On AWS: a resume sent as much as one invocation may; more waits after `cursor`.
    Behind { cursor: String },
    /// A message from the client the server could not act on.
    Error { code: &'static str, message: String },
    /// A `reauth` was accepted: the stream now lasts until the new token expires.
    Reauthed { expires_in: u64 },
}

impl StreamFrame<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a frame always serialises")
    }
}

/// Judges a `reauth` of `user`'s stream at `now`: the fresh token's claims, or the `error` frame
/// that refuses it (with the codes the HTTP API answers a bad token with).
pub fn reauth(
    keys: &Keys,
    user: &UserId,
    access_token: &str,
    now: UnixSecs,
) -> Result<AccessClaims, StreamFrame<'static>> {
    let refused = |code, message: String| StreamFrame::Error { code, message };
    match keys.verify_access_token(access_token.trim(), now) {
        Ok(claims) if claims.user == *user => Ok(claims),
        Ok(_) => Err(refused("invalid_token", "the access token is another user's".into())),
        Err(TokenError::Expired) => Err(refused("token_expired", ApiError::TokenExpired.to_string())),
        Err(TokenError::Invalid) => Err(refused("invalid_token", ApiError::InvalidToken.to_string())),
    }
}

/// Reads one user's feed after a position, a page at a time, up to a limit of entries: what a
/// stream sends when it opens, and what a resume on AWS sends.
pub struct CatchUp {
    user: UserId,
    last: Seq,
    page: usize,
    left: usize,
    /// The last page read was the feed's end.
    at_end: bool,
}

impl CatchUp {
    /// From just after `after`, `page` entries per read, `limit` entries in all.
    pub fn after(user: &UserId, after: Seq, page: usize, limit: usize) -> Self {
        Self { user: user.clone(), last: after, page, left: limit, at_end: false }
    }

    /// The next page, or `None` once the feed's end or the limit is reached.
    pub async fn next_page(&mut self, store: &dyn Store) -> StoreResult<Option<Vec<(Seq, MessageJson)>>> {
        if self.at_end || self.left == 0 {
            return Ok(None);
        }
        let page = store.feed(&self.user, self.last, self.page.min(self.left)).await?;
        self.at_end = !page.has_more;
        self.left -= page.entries.len().min(self.left);
        if let Some((seq, _)) = page.entries.last() {
            self.last = *seq;
        }
        Ok(Some(page.entries))
    }

    /// Whether everything the feed held was read (rather than stopping at the limit).
    pub fn caught_up(&self) -> bool {
        self.at_end
    }

    /// The position of the last entry read.
    pub fn last(&self) -> Seq {
        self.last
    }
}
