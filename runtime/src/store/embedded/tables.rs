//! The embedded store's tables. Values that are records are JSON: small, self-describing and
//! easy to inspect with redb's tools; the hot path (a feed page) decodes at most `limit` of them.

use std::cell::RefCell;
use std::sync::Arc;

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::directory::Directory;
use super::heads::FeedHeads;
use super::logged::{Logged, Ops, TableId};

use crate::domain::{Group, Message, MessageJson, Seq, User, UserId};
use crate::store::StoreError;

/// user id → display name.
pub const USERS: TableDefinition<&str, &str> = TableDefinition::new("users");
/// (blocker, blocked) → nothing: presence is the fact.
pub const BLOCKS: TableDefinition<(&str, &str), ()> = TableDefinition::new("blocks");
/// group id → JSON [`Group`] (members in joining order; at most the configured group size).
pub const GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("groups");
/// message key → the message in its API JSON form ([`MessageJson`]). Stored once however many
/// feeds it is in.
pub const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
/// (user id, position) → message key. Positions are dense per user: 1, 2, 3, …
///
/// Beside each user's entries, under ([`direct_listing`], 0) → when it began (milliseconds since
/// the epoch), the list of the user's direct conversations, newest first. There rather than in a
/// table of their own because a send writes the page that holds the feed's newest entry anyway,
/// and the newest conversation's key sorts right after that entry: the first message between two
/// users then costs no page of its own. Only exact-user ranges read feed entries, and no user id
/// holds the separator, so the two never mix.
pub const FEED: TableDefinition<(&str, u64), u64> = TableDefinition::new("feed");
/// app user id → user id: who the app's backend or identity provider says a user is.
pub const APP_USERS: TableDefinition<&str, &str> = TableDefinition::new("app_users");
/// (user id, session id) → JSON [`crate::domain::Session`]: the hash of its current refresh token.
pub const SESSIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("sessions");
/// (sender, client_id) → message key of the first send with that client_id.
pub const SENT_BY_CLIENT_ID: TableDefinition<(&str, &str), u64> = TableDefinition::new("sent_by_client_id");

/// (user id, group id) → JSON [`crate::domain::Participation`]: their side of a group's
/// conversation (the spans of its numbers that are theirs; the read position is in the log).
pub const GROUP_SIDES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("group_sides");
/// (log key, number) → (message key, `sent_at` in milliseconds): each conversation's messages,
/// numbered 1, 2, 3… The newest number is the conversation's count. A group's log is under its
/// id, a direct conversation's under its first message's key
/// ([`direct_log_key`](super::directory::direct_log_key)), so that new conversations share pages.
///
/// Under [`group_read_key`] a group keeps each member's read position: next to the newest
/// message, so the send that moves the sender's position writes no page beyond the one its log
/// entry is written to. A direct conversation keeps its two in its head ([`DIRECT_HEADS`]).
pub const CONVERSATION_LOG: TableDefinition<(&str, u64), (u64, u64)> = TableDefinition::new("conversation_log");

/// A direct conversation's first message key → its head
/// ([`DirectHead`](super::direct_heads::DirectHead)): the number, message key and `sent_at` of
/// its newest entry, and the read positions of its lower and higher user id.
pub const DIRECT_HEADS: TableDefinition<u64, DirectHeadValue> = TableDefinition::new("direct_heads");
pub type DirectHeadValue = (u64, u64, u64, u64, u64);

/// The store's own bookkeeping, not in the write-ahead log: under [`WAL_APPLIED`], the sequence
/// number of the newest logged batch the database holds (written by each durable commit).
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub const WAL_APPLIED: &str = "wal_applied";

/// The key under which [`CONVERSATION_LOG`] keeps `user`'s read position in `group`, at number 0:
/// it sorts right after the group's entries, beside its newest one.
pub fn group_read_key(group: &str, user: &str) -> String {
    format!("{group}{DIRECT}{user}")
}

/// The key of a direct conversation's log, from its first message's key: `d` and 16 hex digits,
/// so keys sort by when conversations began, before every group's (`g_…`). Built on the stack:
/// an inbox looks up the logs of every conversation its user has, thousands of them.
#[derive(Clone, Copy)]
pub struct DirectLogKey([u8; 17]);

impl DirectLogKey {
    pub fn new(first: u64) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = [b'd'; 17];
        for (i, digit) in key[1..].iter_mut().enumerate() {
            *digit = HEX[((first >> (60 - 4 * i)) & 0xf) as usize];
        }
        Self(key)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII hex digits")
    }
}

/// The key that lists `user`'s direct conversation with `peer` in [`FEED`], which began with the
/// message stored under `first`: later conversations sort first.
pub fn direct_listing(user: &str, first: u64, peer: &str) -> String {
    format!("{user}{DIRECT}{:016x}{peer}", u64::MAX - first)
}

/// Every key of `user`'s direct conversations in [`FEED`], and where the peer's id starts in them.
pub fn direct_listings(user: &str) -> (std::ops::Range<(String, u64)>, usize) {
    let start = format!("{user}{DIRECT}");
    let end = format!("{user}{}", char::from(DIRECT as u8 + 1));
    let at = start.len() + 16;
    ((start, 0)..(end, 0), at)
}

/// The peer and first message key a listing's key names (`at` as [`direct_listings`] gives it).
pub fn listed(key: &str, at: usize) -> Result<(UserId, u64), StoreError> {
    let corrupt_listing = || corrupt("conversation listing", key);
    let inverted = key.get(at.saturating_sub(16)..at).and_then(|hex| u64::from_str_radix(hex, 16).ok());
    let peer = key.get(at..).and_then(UserId::parse);
    match (inverted, peer) {
        (Some(inverted), Some(peer)) => Ok((peer, u64::MAX - inverted)),
        _ => Err(corrupt_listing()),
    }
}

/// Separates the ids in a listing's or a group read position's key: no id holds a control
/// character.
const DIRECT: char = '\u{1}';

/// Tables of an earlier layout of conversations (a numbering this one does not continue), removed
/// when a data directory is opened: its messages and feeds stay, and conversations restart from
/// the next message, as for data from before conversations.
pub const RETIRED: [&str; 3] = ["conversations", "summaries", "log"];

/// Every table, opened once per write transaction and shared by all the operations of a batch:
/// opening and closing a table in redb touches the table directory, which is not free. Their
/// writes are recorded for the write-ahead log in `ops`. With them, the writer's directory of
/// direct conversations and its memory of each feed's newest position.
pub struct WriteTables<'txn> {
    pub users: Logged<'txn, &'static str, &'static str>,
    pub blocks: Logged<'txn, (&'static str, &'static str), ()>,
    pub groups: Logged<'txn, &'static str, &'static [u8]>,
    pub messages: Logged<'txn, u64, &'static [u8]>,
    pub feed: Logged<'txn, (&'static str, u64), u64>,
    pub sent_by_client_id: Logged<'txn, (&'static str, &'static str), u64>,
    pub app_users: Logged<'txn, &'static str, &'static str>,
    pub sessions: Logged<'txn, (&'static str, &'static str), &'static [u8]>,
    pub group_sides: Logged<'txn, (&'static str, &'static str), &'static [u8]>,
    pub log: Logged<'txn, (&'static str, u64), (u64, u64)>,
    pub direct_heads: Logged<'txn, u64, DirectHeadValue>,
    pub directory: Arc<Directory>,
    pub heads: &'txn mut FeedHeads,
}

impl<'txn> WriteTables<'txn> {
    pub fn open(
        txn: &'txn WriteTransaction,
        ops: &'txn RefCell<Ops>,
        directory: &Arc<Directory>,
        heads: &'txn mut FeedHeads,
    ) -> Result<Self, redb::TableError> {
        Ok(Self {
            users: Logged::new(txn.open_table(USERS)?, TableId::Users, ops),
            blocks: Logged::new(txn.open_table(BLOCKS)?, TableId::Blocks, ops),
            groups: Logged::new(txn.open_table(GROUPS)?, TableId::Groups, ops),
            messages: Logged::new(txn.open_table(MESSAGES)?, TableId::Messages, ops),
            feed: Logged::new(txn.open_table(FEED)?, TableId::Feed, ops),
            sent_by_client_id: Logged::new(txn.open_table(SENT_BY_CLIENT_ID)?, TableId::SentByClientId, ops),
            app_users: Logged::new(txn.open_table(APP_USERS)?, TableId::AppUsers, ops),
            sessions: Logged::new(txn.open_table(SESSIONS)?, TableId::Sessions, ops),
            group_sides: Logged::new(txn.open_table(GROUP_SIDES)?, TableId::GroupSides, ops),
            log: Logged::new(txn.open_table(CONVERSATION_LOG)?, TableId::Log, ops),
            direct_heads: Logged::new(txn.open_table(DIRECT_HEADS)?, TableId::DirectHeads, ops),
            directory: directory.clone(),
            heads,
        })
    }
}

pub fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(format!("corrupt {what} record: {error}"))
}

pub fn storage(error: impl Into<redb::Error>) -> StoreError {
    StoreError::unavailable(error.into())
}

pub fn read_user(
    users: &impl ReadableTable<&'static str, &'static str>,
    id: &UserId,
) -> Result<Option<User>, StoreError> {
    let Some(name) = users.get(id.as_str()).map_err(storage)? else {
        return Ok(None);
    };
    let name = crate::domain::Name::parse(name.value()).map_err(|e| corrupt("user", e))?;
    Ok(Some(User { id: id.clone(), name }))
}

pub fn read_group(
    groups: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<Group>, StoreError> {
    match groups.get(id).map_err(storage)? {
        Some(bytes) => serde_json::from_slice(bytes.value()).map(Some).map_err(|e| corrupt("group", e)),
        None => Ok(None),
    }
}

pub fn read_message(messages: &impl ReadableTable<u64, &'static [u8]>, key: u64) -> Result<Message, StoreError> {
    read_message_json(messages, key)?.decode().map_err(|e| corrupt("message", e))
}

/// The stored message as it is, without decoding its fields: what a poll returns.
pub fn read_message_json(
    messages: &impl ReadableTable<u64, &'static [u8]>,
    key: u64,
) -> Result<MessageJson, StoreError> {
    let bytes =
        messages.get(key).map_err(storage)?.ok_or_else(|| corrupt("feed", format!("message {key} is missing")))?;
    MessageJson::from_stored(bytes.value()).map_err(|e| corrupt("message", e))
}

/// The position of the newest entry in `user`'s feed, `Seq::START` when it is empty.
pub fn feed_head(feed: &impl ReadableTable<(&'static str, u64), u64>, user: &str) -> Result<Seq, StoreError> {
    let newest = feed.range((user, 0)..=(user, u64::MAX)).map_err(storage)?.next_back();
    match newest {
        Some(entry) => Ok(Seq(entry.map_err(storage)?.0.value().1)),
        None => Ok(Seq::START),
    }
}

/// Fails on encoding errors only, which would be a bug, not bad input.
pub fn encode(value: &impl serde::Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::unavailable(format!("cannot encode record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::DirectLogKey;

    #[test]
    fn direct_log_keys_are_d_and_16_hex_digits_in_order() {
        for first in [0, 1, 0xabc, 1 << 63, u64::MAX - 1, u64::MAX] {
            assert_eq!(DirectLogKey::new(first).as_str(), format!("d{first:016x}"));
        }
        assert!(DirectLogKey::new(0xff).as_str() < DirectLogKey::new(0x100).as_str());
    }
}
