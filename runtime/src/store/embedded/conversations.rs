//! Conversations on the embedded store, written in the transaction that delivers the message or
//! changes the membership, so they always agree with the feeds: each conversation's numbered log,
//! a direct conversation's head (its newest entry and its two read positions, [`super::direct_heads`]),
//! a group member's read position beside the group's newest entry, each user's listing of their
//! direct conversations beside their feed, and their side of each group (the stretches of its
//! numbers that are theirs).
//!
//! A send's writes beyond its feed entries fall in the page of the conversation's newest entry
//! (its log entry, a group sender's read position), in its head's page (a direct message), or in
//! the page of the feed entries it writes anyway (a first message's listings): the writer is bound
//! by pages, not by records. A direct conversation's log and head are under its first message's
//! key ([`super::directory`]), so those of conversations begun together share pages too.

use std::borrow::Cow;
use std::sync::Arc;

use redb::ReadableTable;

use super::append_entry;
use super::direct_heads::{DirectHead, direct_head};
use super::directory::direct_log_key;
use super::tables::*;
use crate::domain::conversation::{MembershipChangeKind, ReadOutcome, membership_entry};
use crate::domain::{
    ConversationId, GroupId, Message, MessageJson, Number, Participation, ReadMark, Recipient, Rejection, Seq, UserId,
};
use crate::store::events::FeedEvents;
use crate::store::{Appended, MembershipChange, StoreResult};

pub fn now_millis() -> u64 {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

pub type LogTable = (&'static str, u64);
pub type GroupSidesTable = (&'static str, &'static str);
/// A conversation's newest entry, if it has one: (number, message key, `sent_at` ms).
pub type Newest = Option<(u64, u64, u64)>;
/// A direct conversation's read positions: the lower user id's, the higher's.
pub type Reads = (u64, u64);

/// Where a conversation's log is: a direct one's under its first message's key (spelled out only
/// where needed: an inbox places thousands), a group's under its id.
#[derive(Clone, Debug)]
pub enum LogAt {
    First(u64),
    Key(String),
}

impl LogAt {
    pub fn key(&self) -> Cow<'_, str> {
        match self {
            Self::First(first) => Cow::Owned(direct_log_key(*first)),
            Self::Key(key) => Cow::Borrowed(key),
        }
    }
}

/// The newest entry of the conversation whose log is `at`: a direct one's from its head.
pub fn newest_at(
    log: &impl ReadableTable<LogTable, (u64, u64)>,
    heads: &impl ReadableTable<u64, DirectHeadValue>,
    at: &LogAt,
) -> StoreResult<Newest> {
    match at {
        LogAt::First(first) => Ok(direct_head(heads, *first)?.newest),
        LogAt::Key(key) => newest(log, key),
    }
}

/// A group's newest entry: (its number, message key, `sent_at` ms); `None` before any.
pub fn newest(log: &impl ReadableTable<LogTable, (u64, u64)>, shared: &str) -> StoreResult<Newest> {
    let newest = log.range((shared, 1)..=(shared, u64::MAX)).map_err(storage)?.next_back();
    match newest {
        Some(entry) => {
            let (key, value) = entry.map_err(storage)?;
            let (message, at) = value.value();
            Ok(Some((key.value().1, message, at)))
        }
        None => Ok(None),
    }
}

/// A group's count: the number of its newest message.
pub fn latest(log: &impl ReadableTable<LogTable, (u64, u64)>, group: &str) -> StoreResult<u64> {
    Ok(newest(log, group)?.map_or(0, |(n, _, _)| n))
}

/// Whether `user` has a side of `group`'s conversation (is or was a member since conversations
/// were recorded).
pub fn in_group(tables: &WriteTables<'_>, user: &UserId, group: &str) -> StoreResult<bool> {
    Ok(tables.group_sides.get((user.as_str(), group)).map_err(storage)?.is_some())
}

/// The number `user` has read up to in `group` (0: nothing).
pub fn group_read(log: &impl ReadableTable<LogTable, (u64, u64)>, group: &str, user: &UserId) -> StoreResult<u64> {
    let key = group_read_key(group, user.as_str());
    Ok(log.get((key.as_str(), 0)).map_err(storage)?.map_or(0, |read| read.value().0))
}

/// Moves `user`'s read position in `group` to `n`, if further.
fn move_group_read(tables: &mut WriteTables<'_>, group: &str, user: &UserId, n: u64) -> StoreResult<bool> {
    if group_read(&*tables.log, group, user)? >= n {
        return Ok(false);
    }
    tables.log.insert((group_read_key(group, user.as_str()).as_str(), 0), (n, 0)).map_err(storage)?;
    Ok(true)
}

/// Moves `user`'s read position in their direct conversation with `peer` (begun by the message
/// under `first`) to `n`, if further.
fn move_direct_read(
    tables: &mut WriteTables<'_>,
    first: u64,
    user: &UserId,
    peer: &UserId,
    n: u64,
) -> StoreResult<bool> {
    let mut head = direct_head(&*tables.direct_heads, first)?;
    if !head.read_to(user, peer, n) {
        return Ok(false);
    }
    tables.direct_heads.insert(first, head.value()).map_err(storage)?;
    Ok(true)
}

pub fn group_side(
    table: &impl ReadableTable<GroupSidesTable, &'static [u8]>,
    user: &UserId,
    group: &str,
) -> StoreResult<Option<Participation>> {
    match table.get((user.as_str(), group)).map_err(storage)? {
        Some(bytes) => serde_json::from_slice(bytes.value()).map(Some).map_err(|e| corrupt("conversation", e)),
        None => Ok(None),
    }
}

fn put_group_side(tables: &mut WriteTables<'_>, user: &UserId, group: &str, side: &Participation) -> StoreResult<()> {
    tables.group_sides.insert((user.as_str(), group), encode(side)?.as_slice()).map_err(storage)?;
    Ok(())
}

/// The message stored at number `n` of a conversation, if any.
pub fn logged(
    log: &impl ReadableTable<LogTable, (u64, u64)>,
    messages: &impl ReadableTable<u64, &'static [u8]>,
    shared: &str,
    n: u64,
) -> StoreResult<Option<MessageJson>> {
    match log.get((shared, n)).map_err(storage)? {
        Some(entry) => read_message_json(messages, entry.value().0).map(Some),
        None => Ok(None),
    }
}

/// Where a message's conversation is, found once per send for both numbering and recording it.
pub struct Place {
    /// The number the message takes in its conversation.
    pub number: Number,
    /// A direct conversation's first message key; `None` for its first message (whose log goes
    /// under that message's own key) and for a group.
    first: Option<u64>,
    /// A direct conversation's head as the send found it.
    head: DirectHead,
}

/// The place the next message of `message`'s conversation takes.
pub fn next_place(tables: &WriteTables<'_>, message: &Message) -> StoreResult<Place> {
    match &message.to {
        Recipient::Direct(to) => {
            let first = tables.directory.first(&*tables.feed, &message.from, to)?;
            let head = match first {
                Some(first) => direct_head(&*tables.direct_heads, first)?,
                None => DirectHead::default(),
            };
            Ok(Place { number: Number(head.latest() + 1), first, head })
        }
        Recipient::Group(group) => {
            let latest = latest(&*tables.log, group.as_str())?;
            Ok(Place { number: Number(latest + 1), first: None, head: DirectHead::default() })
        }
    }
}

/// Records a delivered message (numbered by `place`, stored under `key`) in its conversation: the
/// log, a direct conversation's listings from its first message and its head, and the sender's
/// read position.
pub fn record_message(tables: &mut WriteTables<'_>, message: &Message, key: u64, place: Place) -> StoreResult<()> {
    let number = place.number.0;
    let at = message.sent_at.timestamp_millis().max(0) as u64;
    let from = &message.from;
    match &message.to {
        Recipient::Direct(to) => {
            let first = match place.first {
                Some(first) => first,
                None => {
                    // Listed once, at the first message, whose key the log is kept under from then on.
                    let parties = if from == to { vec![(from, to)] } else { vec![(from, to), (to, from)] };
                    for (user, peer) in parties {
                        let listing = direct_listing(user.as_str(), key, peer.as_str());
                        tables.feed.insert((listing.as_str(), 0), at).map_err(storage)?;
                    }
                    tables.directory.began(from, to, key);
                    key
                }
            };
            tables.log.insert((DirectLogKey::new(first).as_str(), number), (key, at)).map_err(storage)?;
            let mut head = place.head;
            head.newest = Some((number, key, at));
            head.read_to(from, to, number);
            tables.direct_heads.insert(first, head.value()).map_err(storage)?;
        }
        Recipient::Group(group) => {
            tables.log.insert((group.as_str(), number), (key, at)).map_err(storage)?;
            // A group from before conversations were recorded: theirs from this message on.
            if !in_group(tables, from, group.as_str())? {
                let mut side = Participation { spans: Vec::new(), read: None, joined_at: at };
                side.join(number - 1, at);
                put_group_side(tables, from, group.as_str(), &side)?;
            }
            move_group_read(tables, group.as_str(), from, number)?;
        }
    }
    Ok(())
}

/// Records that `user` joined or left `group` (a change that happened): their side of the
/// conversation, and a membership entry in their feed, returned for live listeners.
pub fn record_membership(
    tables: &mut WriteTables<'_>,
    group: &GroupId,
    user: &UserId,
    change: MembershipChangeKind,
    by: &UserId,
) -> StoreResult<(Seq, MessageJson)> {
    let latest = latest(&*tables.log, group.as_str())?;
    let now = now_millis();
    let mut side = group_side(&*tables.group_sides, user, group.as_str())?.unwrap_or(Participation {
        spans: Vec::new(),
        read: None,
        joined_at: now,
    });
    match change {
        MembershipChangeKind::Added => side.join(latest, now),
        MembershipChangeKind::Removed => side.leave(latest),
    }
    put_group_side(tables, user, group.as_str(), &side)?;
    let entry = membership_entry(group, change, by, now);
    let seq = append_entry(tables, user, entry.as_bytes())?;
    Ok((seq, entry))
}

/// A membership entry committed to a feed, to hand to live listeners.
pub type Told = Option<Appended>;

/// Records a membership change that happened (`kind`) in the conversation and the user's feed.
pub fn told(
    tables: &mut WriteTables<'_>,
    change: &MembershipChange,
    kind: Option<MembershipChangeKind>,
) -> StoreResult<Told> {
    let Some(kind) = kind else { return Ok(None) };
    let (seq, entry) = record_membership(tables, &change.group, &change.user, kind, &change.caller)?;
    Ok(Some(Appended { user: change.user.clone(), seq, entry: Arc::new(entry) }))
}

pub fn publish_told(events: &FeedEvents, told: &Told) {
    if let Some(Appended { user, seq, entry }) = told {
        events.publish_entry(entry, user, *seq);
    }
}

/// Moves `user`'s read position in `id` to `mark`: the message must be that conversation's.
pub fn mark_read(
    tables: &mut WriteTables<'_>,
    user: &UserId,
    id: &ConversationId,
    mark: ReadMark,
) -> StoreResult<ReadOutcome> {
    let n = mark.number.0;
    let moved = match id {
        ConversationId::Direct(peer) => {
            let Some(first) = tables.directory.first(&*tables.feed, user, peer)? else {
                return Err(Rejection::UnknownConversation.into());
            };
            check_logged(tables, DirectLogKey::new(first).as_str(), &mark)?;
            move_direct_read(tables, first, user, peer, n)?
        }
        ConversationId::Group(group) => {
            if !in_group(tables, user, group.as_str())? {
                return Err(Rejection::UnknownConversation.into());
            }
            check_logged(tables, group.as_str(), &mark)?;
            move_group_read(tables, group.as_str(), user, n)?
        }
    };
    Ok(if moved { ReadOutcome::Moved } else { ReadOutcome::Unchanged })
}

/// Refuses a read position that names no message of the conversation whose log is `shared`.
fn check_logged(tables: &WriteTables<'_>, shared: &str, mark: &ReadMark) -> StoreResult<()> {
    let Some(json) = logged(&*tables.log, &*tables.messages, shared, mark.number.0)? else {
        return Err(Rejection::UnknownMessage.into());
    };
    if json.decode().map_err(|e| corrupt("message", e))?.id != mark.message {
        return Err(Rejection::UnknownMessage.into());
    }
    Ok(())
}
