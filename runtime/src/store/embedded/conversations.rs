//! Conversations on the embedded store: each user's side of each conversation, the shared
//! summary (count and newest message) and the numbered log, all written in the transaction that
//! delivers the message or changes the membership, so they always agree with the feeds.

use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};

use super::tables::*;
use super::{EmbeddedStore, append_entry};
use crate::domain::conversation::{
    Conversation, ConversationDetail, HistoryFrom, HistoryPage, InInbox, InboxCursor, InboxPage, MembershipChangeKind,
    ReadOutcome, Receipt, membership_entry, next_page, page_of,
};
use crate::domain::{
    ConversationId, GroupId, Message, MessageJson, Name, Number, Participation, ReadMark, Recipient, Rejection, Seq,
    UserId,
};
use crate::store::events::FeedEvents;
use crate::store::{MembershipChange, StoreResult};

pub fn now_millis() -> u64 {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

type ConversationsTable = (&'static str, &'static str);

fn participation(
    table: &impl ReadableTable<ConversationsTable, &'static [u8]>,
    user: &UserId,
    id: &ConversationId,
) -> StoreResult<Option<Participation>> {
    match table.get((user.as_str(), id.as_str())).map_err(storage)? {
        Some(bytes) => serde_json::from_slice(bytes.value()).map(Some).map_err(|e| corrupt("conversation", e)),
        None => Ok(None),
    }
}

fn put_participation(
    tables: &mut WriteTables<'_>,
    user: &UserId,
    id: &ConversationId,
    side: &Participation,
) -> StoreResult<()> {
    tables.conversations.insert((user.as_str(), id.as_str()), encode(side)?.as_slice()).map_err(storage)?;
    Ok(())
}

fn summary(table: &impl ReadableTable<&'static str, &'static [u8]>, key: &str) -> StoreResult<StoredSummary> {
    match table.get(key).map_err(storage)? {
        Some(bytes) => serde_json::from_slice(bytes.value()).map_err(|e| corrupt("summary", e)),
        None => Ok(StoredSummary::default()),
    }
}

fn shared_key(message: &Message) -> String {
    ConversationId::of_message(&message.from, &message.from, &message.to).shared_key(&message.from)
}

/// The number the next message of `message`'s conversation takes.
pub fn next_number(tables: &WriteTables<'_>, message: &Message) -> StoreResult<Number> {
    Ok(Number(summary(&tables.summaries, &shared_key(message))?.latest + 1))
}

/// Records a delivered message (numbered, stored under `key`) in its conversation: the log, the
/// summary, and the sides of the conversation — a direct one's both sides from its first
/// message; the sender's read position moves to it.
pub fn record_message(tables: &mut WriteTables<'_>, message: &Message, key: u64) -> StoreResult<()> {
    let number = message.id.number().expect("stores number every message they deliver");
    let shared = shared_key(message);
    tables.log.insert((shared.as_str(), number.0), key).map_err(storage)?;
    let stored = StoredSummary { latest: number.0, at: Some(message.sent_at.timestamp_millis().max(0) as u64) };
    tables.summaries.insert(shared.as_str(), encode(&stored)?.as_slice()).map_err(storage)?;
    let now = now_millis();
    if let Recipient::Direct(to) = &message.to
        && to != &message.from
    {
        let id = ConversationId::Direct(message.from.clone());
        if participation(&tables.conversations, to, &id)?.is_none() {
            put_participation(tables, to, &id, &Participation::direct(now))?;
        }
    }
    let id = ConversationId::of_message(&message.from, &message.from, &message.to);
    let mut side = match participation(&tables.conversations, &message.from, &id)? {
        Some(side) => side,
        None if matches!(id, ConversationId::Direct(_)) => Participation::direct(now),
        // A group from before conversations were recorded: theirs from this message on.
        None => {
            let mut side = Participation { spans: Vec::new(), read: None, joined_at: now };
            side.join(number.0 - 1, now);
            side
        }
    };
    side.mark_read(ReadMark { number, message: message.id.clone() });
    put_participation(tables, &message.from, &id, &side)
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
    let id = ConversationId::Group(group.clone());
    let latest = summary(&tables.summaries, group.as_str())?.latest;
    let now = now_millis();
    let mut side = participation(&tables.conversations, user, &id)?.unwrap_or(Participation {
        spans: Vec::new(),
        read: None,
        joined_at: now,
    });
    match change {
        MembershipChangeKind::Added => side.join(latest, now),
        MembershipChangeKind::Removed => side.leave(latest),
    }
    put_participation(tables, user, &id, &side)?;
    let entry = membership_entry(group, change, by, now);
    let seq = append_entry(tables, user, entry.as_bytes())?;
    Ok((seq, entry))
}

/// A membership entry committed to a feed, to hand to live listeners.
pub type Told = Option<(UserId, Seq, Arc<MessageJson>)>;

/// Records a membership change that happened (`kind`) in the conversation and the user's feed.
pub fn told(
    tables: &mut WriteTables<'_>,
    change: &MembershipChange,
    kind: Option<MembershipChangeKind>,
) -> StoreResult<Told> {
    let Some(kind) = kind else { return Ok(None) };
    let (seq, entry) = record_membership(tables, &change.group, &change.user, kind, &change.caller)?;
    Ok(Some((change.user.clone(), seq, Arc::new(entry))))
}

pub fn publish_told(events: &FeedEvents, told: &Told) {
    if let Some((user, seq, entry)) = told {
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
    let mut side = participation(&tables.conversations, user, id)?.ok_or(Rejection::UnknownConversation)?;
    let shared = id.shared_key(user);
    let key = tables.log.get((shared.as_str(), mark.number.0)).map_err(storage)?.map(|key| key.value());
    let Some(key) = key else { return Err(Rejection::UnknownMessage.into()) };
    if read_message(&tables.messages, key)?.id != mark.message {
        return Err(Rejection::UnknownMessage.into());
    }
    if !side.mark_read(mark) {
        return Ok(ReadOutcome::Unchanged);
    }
    put_participation(tables, user, id, &side)?;
    Ok(ReadOutcome::Moved)
}

/// The tables a read of conversations needs, in one snapshot.
struct Snapshot {
    conversations: redb::ReadOnlyTable<ConversationsTable, &'static [u8]>,
    summaries: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    log: redb::ReadOnlyTable<(&'static str, u64), u64>,
    messages: redb::ReadOnlyTable<u64, &'static [u8]>,
    users: redb::ReadOnlyTable<&'static str, &'static str>,
    groups: redb::ReadOnlyTable<&'static str, &'static [u8]>,
}

impl Snapshot {
    fn open(store: &EmbeddedStore) -> StoreResult<Self> {
        let txn = store.db.begin_read().map_err(storage)?;
        Ok(Self {
            conversations: txn.open_table(CONVERSATIONS).map_err(storage)?,
            summaries: txn.open_table(SUMMARIES).map_err(storage)?,
            log: txn.open_table(LOG).map_err(storage)?,
            messages: txn.open_table(MESSAGES).map_err(storage)?,
            users: txn.open_table(USERS).map_err(storage)?,
            groups: txn.open_table(GROUPS).map_err(storage)?,
        })
    }

    fn name(&self, id: &ConversationId) -> StoreResult<Name> {
        let name = match id {
            ConversationId::Direct(peer) => read_user(&self.users, peer)?.map(|user| user.name),
            ConversationId::Group(group) => read_group(&self.groups, group.as_str())?.map(|group| group.name),
        };
        Ok(name.unwrap_or_else(|| Name::parse(ERASED).expect("a valid name")))
    }

    fn message(&self, shared: &str, n: Number) -> StoreResult<Option<MessageJson>> {
        match self.log.get((shared, n.0)).map_err(storage)? {
            Some(key) => read_message_json(&self.messages, key.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Where a conversation of `user`'s goes in the inbox: from the summary alone, unless the
    /// newest message they may see is not the conversation's newest (a group they left).
    fn place(&self, user: &UserId, id: ConversationId, side: Participation) -> StoreResult<Placed> {
        let shared = id.shared_key(user);
        let summary = summary(&self.summaries, &shared)?;
        let updated_at = match (side.last_visible(summary.latest), summary.at) {
            (None, _) => side.joined_at,
            (Some(n), Some(at)) if n.0 == summary.latest => at,
            (Some(n), _) => self.sent_at(&shared, n)?.unwrap_or(side.joined_at),
        };
        Ok(Placed { id, side, latest: summary.latest, updated_at })
    }

    fn sent_at(&self, shared: &str, n: Number) -> StoreResult<Option<u64>> {
        let message = self.message(shared, n)?.map(|json| json.decode()).transpose();
        let message = message.map_err(|e| corrupt("message", e))?;
        Ok(message.map(|m| m.sent_at.timestamp_millis().max(0) as u64))
    }

    fn conversation(&self, user: &UserId, placed: Placed) -> StoreResult<Conversation> {
        let Placed { id, side, latest, updated_at } = placed;
        let last_message = match side.last_visible(latest) {
            Some(n) => self.message(&id.shared_key(user), n)?,
            None => None,
        };
        Ok(Conversation {
            name: self.name(&id)?,
            updated_at,
            unread: side.unread(latest),
            read_up_to: side.read.map(|mark| mark.message),
            last_message,
            id,
        })
    }
}

/// A conversation placed in the inbox's order, before its name and message are read: a page of
/// 1,000 conversations reads those for the page only.
struct Placed {
    id: ConversationId,
    side: Participation,
    latest: u64,
    updated_at: u64,
}

impl InInbox for Placed {
    fn updated_at(&self) -> u64 {
        self.updated_at
    }

    fn inbox_id(&self) -> &str {
        self.id.as_str()
    }
}

/// What a conversation with a user who was erased is called.
pub const ERASED: &str = "deleted user";

impl EmbeddedStore {
    pub(super) fn inbox_now(
        &self,
        user: &UserId,
        before: Option<&InboxCursor>,
        limit: usize,
    ) -> StoreResult<InboxPage> {
        let snapshot = Snapshot::open(self)?;
        let mut all = Vec::new();
        let next = format!("{}\0", user.as_str());
        for entry in snapshot.conversations.range((user.as_str(), "")..(next.as_str(), "")).map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            let id = ConversationId::parse(key.value().1).ok_or_else(|| corrupt("conversation", key.value().1))?;
            let side: Participation = serde_json::from_slice(value.value()).map_err(|e| corrupt("conversation", e))?;
            all.push(snapshot.place(user, id, side)?);
        }
        let (page, next) = page_of(all, before, limit);
        let conversations =
            page.into_iter().map(|placed| snapshot.conversation(user, placed)).collect::<StoreResult<_>>()?;
        Ok(InboxPage { conversations, next })
    }

    pub(super) fn history_now(
        &self,
        user: &UserId,
        id: &ConversationId,
        from: HistoryFrom,
        limit: usize,
    ) -> StoreResult<Option<HistoryPage>> {
        let snapshot = Snapshot::open(self)?;
        let Some(side) = participation(&snapshot.conversations, user, id)? else { return Ok(None) };
        let shared = id.shared_key(user);
        let latest = summary(&snapshot.summaries, &shared)?.latest;
        let mut at = match from {
            HistoryFrom::Newest => side.last_visible(latest).map(|n| n.0),
            HistoryFrom::Before(n) => side.next_before(n.0, latest),
            HistoryFrom::After(n) => side.next_after(n.0).filter(|next| *next <= latest),
        };
        let mut messages = Vec::new();
        let mut bytes = 0;
        while let Some(n) = at {
            if messages.len() == limit {
                break;
            }
            let Some(json) = snapshot.message(&shared, Number(n))? else { break };
            if !crate::domain::FeedPage::fits(messages.len(), bytes, json.as_bytes().len()) {
                break;
            }
            bytes += json.as_bytes().len();
            messages.push((Number(n), json));
            at = if from.newest_first() {
                side.next_before(n, latest)
            } else {
                side.next_after(n).filter(|next| *next <= latest)
            };
        }
        Ok(Some(HistoryPage { next: next_page(from, &messages, at.is_some()), messages }))
    }

    pub(super) fn conversation_now(&self, user: &UserId, id: &ConversationId) -> StoreResult<ConversationDetail> {
        let snapshot = Snapshot::open(self)?;
        let side = participation(&snapshot.conversations, user, id)?.ok_or(Rejection::UnknownConversation)?;
        let members = match id {
            ConversationId::Group(group) => {
                let group = read_group(&snapshot.groups, group.as_str())?.ok_or(Rejection::UnknownConversation)?;
                group.require_member(user)?;
                group.members
            }
            ConversationId::Direct(peer) if peer == user => vec![user.clone()],
            ConversationId::Direct(peer) => vec![user.clone(), peer.clone()],
        };
        let mut receipts = Vec::with_capacity(members.len());
        for member in members {
            let theirs = id.seen_by(user, &member);
            let read = participation(&snapshot.conversations, &member, &theirs)?.and_then(|side| side.read);
            receipts.push(Receipt { user: member, read_up_to: read.map(|mark| mark.message) });
        }
        let conversation = snapshot.conversation(user, snapshot.place(user, id.clone(), side)?)?;
        Ok(ConversationDetail { conversation, members: receipts })
    }
}
