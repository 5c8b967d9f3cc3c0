//! Conversations on the embedded store, written in the transaction that delivers the message or
//! changes the membership, so they always agree with the feeds: each conversation's numbered log,
//! its read positions beside its newest entry (a direct conversation's two in one record, a
//! group's one per member who read), each user's listing of their direct conversations beside
//! their feed, and their side of each group (the stretches of its numbers that are theirs).
//!
//! A send's writes beyond its feed entries all fall in the page of the conversation's newest
//! entry (its log entry and the sender's read position) or in the page of the feed entries it
//! writes anyway (a first message's listings): the writer is bound by pages, not by records.
//! A direct conversation's log is under its first message's key ([`super::directory`]), so the
//! logs of conversations begun together share pages too.

use std::sync::Arc;

use redb::ReadableTable;

use super::append_entry;
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

/// A conversation's newest entry: (its number, message key, `sent_at` ms); `None` before any.
pub fn newest(log: &impl ReadableTable<LogTable, (u64, u64)>, shared: &str) -> StoreResult<Newest> {
    let newest = log.range((shared, 1)..(shared, READS)).map_err(storage)?.next_back();
    match newest {
        Some(entry) => {
            let (key, value) = entry.map_err(storage)?;
            let (message, at) = value.value();
            Ok(Some((key.value().1, message, at)))
        }
        None => Ok(None),
    }
}

/// A direct conversation's newest entry and its users' read positions (the lower id's, the
/// higher's), found together: they sit side by side.
pub fn newest_and_reads(log: &impl ReadableTable<LogTable, (u64, u64)>, shared: &str) -> StoreResult<(Newest, Reads)> {
    let mut reads = (0, 0);
    for entry in log.range((shared, 1)..=(shared, READS)).map_err(storage)?.rev() {
        let (key, value) = entry.map_err(storage)?;
        match key.value().1 {
            READS => reads = value.value(),
            n => return Ok((Some((n, value.value().0, value.value().1)), reads)),
        }
    }
    Ok((None, reads))
}

/// The conversation's count: the number of its newest message.
pub fn latest(log: &impl ReadableTable<LogTable, (u64, u64)>, shared: &str) -> StoreResult<u64> {
    Ok(newest(log, shared)?.map_or(0, |(n, _, _)| n))
}

/// The number `user` has read up to in their direct conversation with `peer`, whose log is
/// under `shared` (0: nothing).
pub fn direct_read(
    log: &impl ReadableTable<LogTable, (u64, u64)>,
    shared: &str,
    user: &UserId,
    peer: &UserId,
) -> StoreResult<u64> {
    let reads = log.get((shared, READS)).map_err(storage)?.map_or((0, 0), |reads| reads.value());
    Ok(own_read(reads, user, peer))
}

/// Which of a direct conversation's two read positions is `user`'s: the lower id's comes first.
pub fn own_read((low, high): Reads, user: &UserId, peer: &UserId) -> u64 {
    if user <= peer { low } else { high }
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

/// Moves `user`'s read position in their direct conversation with `peer` (its log under
/// `shared`) to `n`, if further.
fn move_direct_read(
    tables: &mut WriteTables<'_>,
    shared: &str,
    user: &UserId,
    peer: &UserId,
    n: u64,
) -> StoreResult<bool> {
    let (mut low, mut high) = tables.log.get((shared, READS)).map_err(storage)?.map_or((0, 0), |reads| reads.value());
    let (mine, theirs) = if user <= peer { (&mut low, &mut high) } else { (&mut high, &mut low) };
    if *mine >= n {
        return Ok(false);
    }
    *mine = n;
    if user == peer {
        *theirs = n; // notes to self: both slots are theirs
    }
    tables.log.insert((shared, READS), (low, high)).map_err(storage)?;
    Ok(true)
}

/// Where `user`'s conversation `id` keeps its log, as the writer sees it: a group's under its id
/// (whether or not `user` is in it), a direct one's under its first message's key — `None` before
/// its first message (a blocked sender's never comes).
pub fn log_key(tables: &WriteTables<'_>, user: &UserId, id: &ConversationId) -> StoreResult<Option<String>> {
    match id {
        ConversationId::Group(group) => Ok(Some(group.as_str().to_owned())),
        ConversationId::Direct(peer) => Ok(tables.directory.first(&*tables.feed, user, peer)?.map(direct_log_key)),
    }
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

/// The conversation a message is in, as its sender sees it.
fn conversation_of(message: &Message) -> ConversationId {
    ConversationId::of_message(&message.from, &message.from, &message.to)
}

/// Where a message's conversation is, found once per send for both numbering and recording it.
pub struct Place {
    /// The number the message takes in its conversation.
    pub number: Number,
    /// Where the conversation's log is; `None` for a direct conversation's first message, whose
    /// log goes under that message's own key.
    shared: Option<String>,
}

/// The place the next message of `message`'s conversation takes.
pub fn next_place(tables: &WriteTables<'_>, message: &Message) -> StoreResult<Place> {
    let shared = log_key(tables, &message.from, &conversation_of(message))?;
    let latest = match &shared {
        Some(shared) => latest(&*tables.log, shared)?,
        None => 0,
    };
    Ok(Place { number: Number(latest + 1), shared })
}

/// Records a delivered message (numbered by `place`, stored under `key`) in its conversation: the
/// log, a direct conversation's listings from its first message, and the sender's read position.
pub fn record_message(tables: &mut WriteTables<'_>, message: &Message, key: u64, place: Place) -> StoreResult<()> {
    let number = place.number.0;
    let at = message.sent_at.timestamp_millis().max(0) as u64;
    let from = &message.from;
    match (&message.to, place.shared) {
        (Recipient::Direct(to), None) => {
            // Listed once, at the first message, whose key the log is kept under from then on.
            let parties = if from == to { vec![(from, to)] } else { vec![(from, to), (to, from)] };
            for (user, peer) in parties {
                let listing = direct_listing(user.as_str(), key, peer.as_str());
                tables.feed.insert((listing.as_str(), 0), at).map_err(storage)?;
            }
            tables.directory.began(from, to, key);
            let shared = direct_log_key(key);
            tables.log.insert((shared.as_str(), number), (key, at)).map_err(storage)?;
            // A conversation that begins has no read positions to read: the sender's is this one.
            let reads = if from == to {
                (number, number)
            } else if from < to {
                (number, 0)
            } else {
                (0, number)
            };
            tables.log.insert((shared.as_str(), READS), reads).map_err(storage)?;
        }
        (Recipient::Direct(to), Some(shared)) => {
            tables.log.insert((shared.as_str(), number), (key, at)).map_err(storage)?;
            move_direct_read(tables, &shared, from, to, number)?;
        }
        (Recipient::Group(group), _) => {
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
    let shared = match id {
        ConversationId::Direct(_) => log_key(tables, user, id)?,
        ConversationId::Group(group) => in_group(tables, user, group.as_str())?.then(|| group.as_str().to_owned()),
    };
    let Some(shared) = shared else {
        return Err(Rejection::UnknownConversation.into());
    };
    let Some(json) = logged(&*tables.log, &*tables.messages, &shared, mark.number.0)? else {
        return Err(Rejection::UnknownMessage.into());
    };
    if json.decode().map_err(|e| corrupt("message", e))?.id != mark.message {
        return Err(Rejection::UnknownMessage.into());
    }
    let moved = match id {
        ConversationId::Direct(peer) => move_direct_read(tables, &shared, user, peer, mark.number.0)?,
        ConversationId::Group(group) => move_group_read(tables, group.as_str(), user, mark.number.0)?,
    };
    Ok(if moved { ReadOutcome::Moved } else { ReadOutcome::Unchanged })
}
