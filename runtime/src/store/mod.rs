//! Storage behind one trait, so the same API runs on an embedded engine locally and on a cloud
//! database in production.
//!
//! # Guarantees every backend gives
//!
//! * **Acknowledged means durable.** When a write method returns `Ok`, its effects survive a
//!   crash of the process (and, for the embedded store, `kill -9`).
//! * **Rules are atomic with their writes.** A method that checks a rule (membership, blocks,
//!   group size, `client_id` reuse) and then writes does both against the same state: no other
//!   write can slip in between.
//! * **Writes are all-or-nothing.** A send either reaches every feed it is due in or none; a
//!   rejected operation leaves no effects. A send that failed with [`StoreError::Unavailable`]
//!   may be retried with the same `client_id` and then completes exactly once. On DynamoDB a
//!   group send to more than one transaction's worth of members is all-or-nothing *eventually*:
//!   if its caller dies between transactions, the rest is delivered exactly once by the client's
//!   retry with its `client_id`, or — with or without one — by the next send to the group or the
//!   next removal of a member, whichever comes first.
//!
//! # Ordering across members
//!
//! Every backend: each feed is dense, holds each message once, and holds one sender's
//! messages in the order that sender sent them (one after another).
//!
//! * **Embedded:** every write goes through one serialised writer, so all members of a group
//!   see its messages in the same relative order (`tests/tests/embedded.rs`).
//! * **DynamoDB:** feeds are appended independently, so two group sends in flight at once — and
//!   a large send, whose chunks land one after another — can appear in a different relative
//!   order in different members' feeds. Clients that need one order for a conversation sort by
//!   `sent_at` (per-sender order is kept, `tests/src/conformance.rs`).
//!
//! # The cursor invariant
//!
//! Every user has a feed: a sequence of entries numbered 1, 2, 3, … with no gaps. A reader that
//! keeps asking for the entries after the last position it saw receives every entry exactly once,
//! in order. A bare counter does not give this: with "take number N, then write entry N", a
//! reader can see N+1 (written by a faster writer) before N exists, move its cursor past N and
//! never see it. Each backend therefore has to guarantee:
//!
//! > **An entry at position N becomes visible to readers only after every entry before N is
//! > visible, and never changes afterwards.**
//!
//! Given that, a page that ends at position P contains everything up to P, so resuming after P
//! loses nothing and repeats nothing. How each backend guarantees it is documented on the
//! backend (for the embedded store: positions are assigned inside the single serialised write
//! transaction and become visible atomically when it commits).

pub mod connections;
pub mod dynamodb;
pub mod embedded;
pub mod events;

use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;

use self::events::FeedEvents;

use crate::domain::conversation::{
    ConversationDetail, HistoryFrom, HistoryPage, InboxCursor, InboxPage, ReadOutcome, Vouched,
};
use crate::domain::message::Outgoing;
use crate::domain::session::UnixSecs;
use crate::domain::{
    AppUserId, ConnectionId, ConversationId, FeedPage, Group, GroupId, MessageJson, Name, ReadMark, RefreshToken,
    Rejection, Rule, Sent, Seq, Session, SessionId, User, UserId,
};

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// A domain rule refused the operation; nothing was written.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The backend failed (I/O, corruption, a crash of its writer). Whether a write took effect
    /// is unknown; retrying a send with the same `client_id` is safe.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        Self::Unavailable(error.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What presenting a session's refresh token did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// It was the current token: the session now has the next one.
    Rotated,
    /// It had been used before, so it was copied: the session is revoked, and no token of it
    /// works any more.
    Revoked,
}

/// A membership change requested by `caller`.
#[derive(Clone, Debug)]
pub struct MembershipChange {
    pub group: GroupId,
    pub caller: UserId,
    pub user: UserId,
}

/// An entry a membership change appended to the member's feed, at `seq`: what a push of it
/// sends (the entry's frame is a message frame, as a poll's or a stream's).
#[derive(Clone, Debug)]
pub struct Appended {
    pub user: UserId,
    pub seq: Seq,
    pub entry: Arc<MessageJson>,
}

/// A user who was erased, and what of theirs is still open elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Erased {
    pub user: UserId,
    /// Their WebSocket connections (on AWS), for the caller to close.
    pub connections: Vec<ConnectionId>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new user. Ids are generated randomly by the caller and never collide.
    async fn create_user(&self, user: &User) -> StoreResult<()>;

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>>;

    /// The user the app knows as `app_user`, named `name`: created with the id `new_id` the first
    /// time, renamed after. Atomic: concurrent upserts of one app user make one user.
    async fn upsert_app_user(&self, app_user: &AppUserId, name: &Name, new_id: &UserId) -> StoreResult<User>;

    /// The user the app knows as `app_user`, if it was ever upserted.
    async fn app_user(&self, app_user: &AppUserId) -> StoreResult<Option<User>>;

    /// Erases the user the app knows as `app_user` (`None`: there is none): their group
    /// memberships (a group they own passes to its next member), sessions, blocks, feed, send
    /// records and connection records, their profile, and last the app's id of them — so an
    /// erase cut short (a 503) is finished by calling it again. What others received from them
    /// stays in the others' feeds, and others' blocks of them stay as inert records.
    async fn erase_app_user(&self, app_user: &AppUserId) -> StoreResult<Option<Erased>>;

    /// Stores a new session (its id is random and new).
    async fn create_session(&self, session: &Session) -> StoreResult<()>;

    /// Presents a refresh token (see [`Session::judge`]): its session's current one, unexpired
    /// at `now`, replaces the session by `next` (`Rotated`); one of an earlier generation revokes
    /// the session (`Revoked`); anything else — an unknown, expired or revoked session, a wrong
    /// secret — rejects with `InvalidRefreshToken` and changes nothing. Two presentations of one
    /// token at once: one rotates, the other revokes.
    async fn rotate_session(&self, presented: &RefreshToken, next: &Session, now: UnixSecs) -> StoreResult<Rotation>;

    /// Forgets one session: its refresh token stops working. Idempotent.
    async fn revoke_session(&self, user: &UserId, session: &SessionId) -> StoreResult<()>;

    /// Forgets every session of `user`. Idempotent.
    async fn revoke_sessions(&self, user: &UserId) -> StoreResult<()>;

    /// `blocker` stops receiving direct messages from `target`. Idempotent.
    /// Rejects with `UnknownUser` if `target` does not exist.
    async fn block(&self, blocker: &UserId, target: &UserId) -> StoreResult<()>;

    /// Idempotent; unblocking someone not blocked (or unknown) succeeds.
    async fn unblock(&self, blocker: &UserId, target: &UserId) -> StoreResult<()>;

    /// Everyone `blocker` has blocked, in id order.
    async fn blocked(&self, blocker: &UserId) -> StoreResult<Vec<UserId>>;

    /// Stores a new group exactly as given (creator as owner and only member).
    async fn create_group(&self, group: &Group) -> StoreResult<()>;

    async fn group(&self, id: &GroupId) -> StoreResult<Option<Group>>;

    /// Adds `change.user` to the group, applying [`Group::admit`] with `max_members`.
    /// Checks, in this order: the group exists (`UnknownGroup`), the caller is a member
    /// (`NotMember`), the user exists (`UnknownUser`), then the size limit (`GroupFull`).
    /// Re-adding a member succeeds and changes nothing.
    /// The membership entry it appended to the user's feed; `None` if they were a member already.
    async fn add_member(&self, change: &MembershipChange, max_members: usize) -> StoreResult<Option<Appended>>;

    /// Removes `change.user`, applying [`Group::remove`]; `UnknownGroup` if there is no group.
    /// The membership entry it appended to the user's feed.
    async fn remove_member(&self, change: &MembershipChange) -> StoreResult<Option<Appended>>;

    /// Delivers a message: a direct message to the sender's and the recipient's feeds (once when
    /// they are the same user), a group message to the feed of every current member.
    ///
    /// With a `client_id`, a previous send by the same sender with the same id is looked up
    /// first: the same recipient and text return that message with `replayed: true` and deliver
    /// nothing (even if a block or removal happened since); a different recipient or text
    /// rejects with `ClientIdConflict`. Then, for a direct message: `UnknownUser` and `Blocked`
    /// (the recipient blocked the sender); for a group message: `UnknownGroup` and `NotMember`.
    /// Last, the sender's `SendsPerUser` and `FanoutPerUser` (the feeds it writes), charged only
    /// when the send is delivered; a replay is not charged again.
    async fn send(&self, outgoing: &Outgoing) -> StoreResult<Sent>;

    /// Counts `amount` of `rule` (a rate, not `ConnectionsPerUser`) for `subject` — a user id or
    /// a source address — in this minute's window ([`crate::domain::limits`]), in one place
    /// every instance shares; over the rule's limit, rejects with `RateLimited` and counts
    /// nothing. A rule that is off costs nothing. Sends are charged by [`Store::send`] itself
    /// (`SendsPerUser` and `FanoutPerUser`, once it knows the recipients).
    async fn charge(&self, rule: Rule, subject: &str, amount: u32) -> StoreResult<()>;

    /// Up to `limit` entries of `user`'s feed after position `after`, oldest first.
    /// `has_more` is true exactly when more entries existed past the page at the time of the
    /// read. Readers never see an entry before every earlier entry (see the module docs).
    async fn feed(&self, user: &UserId, after: Seq, limit: usize) -> StoreResult<FeedPage>;

    /// `user`'s conversations, most recent activity first, the page after `before`
    /// ([`crate::domain::conversation`]).
    async fn inbox(&self, user: &UserId, before: Option<&InboxCursor>, limit: usize) -> StoreResult<InboxPage>;

    /// A page of one conversation's messages as `user` received them; `None` if they have no
    /// such conversation. Pages never skip or repeat a message, whoever sends meanwhile.
    /// `vouched` is what the cursor that led here vouches for, signed by this server (a store may
    /// rely on it instead of reading the same again); the page says what its `next` may vouch for.
    async fn history(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        from: HistoryFrom,
        vouched: Option<&Vouched>,
        limit: usize,
    ) -> StoreResult<Option<HistoryPage>>;

    /// Moves `user`'s read position in the conversation to `up_to` unless it is there or
    /// further already. Rejects `UnknownConversation` (none of theirs) and `UnknownMessage`
    /// (not a message of that conversation).
    async fn mark_read(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        up_to: &ReadMark,
    ) -> StoreResult<ReadOutcome>;

    /// The conversation with each member's read position. Rejects `UnknownConversation`, and for
    /// a group the caller is no longer a member of, `NotMember`.
    async fn conversation(&self, user: &UserId, conversation: &ConversationId) -> StoreResult<ConversationDetail>;

    /// Where this store publishes every feed entry after it commits, in commit order — when it
    /// sees every commit. `None` for a store that other processes write too (DynamoDB): this
    /// process cannot tell its streams about their writes.
    fn feed_events(&self) -> Option<Arc<FeedEvents>> {
        None
    }
}
