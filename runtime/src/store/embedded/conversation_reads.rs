//! Reading conversations on the embedded store, each request from one snapshot: the inbox
//! (ordered by the log's newest entries, then read in full for its page only), history pages
//! and read receipts.

use redb::ReadableDatabase;

use std::sync::Arc;

use super::EmbeddedStore;
use super::conversations::{GroupSidesTable, LogAt, LogTable, Newest, group_read, group_side, logged, newest_at};
use super::direct_heads::direct_head;
use super::directory::{Directory, for_each_listed, listed_first};
use super::tables::*;
use crate::domain::conversation::{
    Conversation, ConversationDetail, HistoryFrom, HistoryPage, InInbox, InboxCursor, InboxPage, Receipt, next_page,
    page_of,
};
use crate::domain::{ConversationId, MessageId, MessageJson, Name, Number, Participation, Rejection, UserId};
use crate::store::StoreResult;

/// What a conversation with a user who was erased is called.
pub const ERASED: &str = "deleted user";

/// The tables a read of conversations needs, in one snapshot.
struct Snapshot {
    group_sides: redb::ReadOnlyTable<GroupSidesTable, &'static [u8]>,
    feed: redb::ReadOnlyTable<(&'static str, u64), u64>,
    log: redb::ReadOnlyTable<LogTable, (u64, u64)>,
    direct_heads: redb::ReadOnlyTable<u64, DirectHeadValue>,
    messages: redb::ReadOnlyTable<u64, &'static [u8]>,
    users: redb::ReadOnlyTable<&'static str, &'static str>,
    groups: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    directory: Arc<Directory>,
}

/// `user`'s side of a conversation and the number they read up to.
type Side = (Participation, u64);
/// Where a conversation's log is, with `user`'s side of it.
type Keyed = (LogAt, Side);

/// A conversation placed in the inbox's order, before its name and messages are read: a page of
/// 100 of 1,000 conversations reads those for the page only.
struct Placed {
    id: ConversationId,
    log: LogAt,
    share: Share,
    read: u64,
    latest: u64,
    updated_at: u64,
}

/// Which of a conversation's messages are the user's. A direct conversation's are all of them
/// from its start, held as that rather than as a [`Participation`] of one span: an inbox of
/// thousands of direct conversations then builds none.
enum Share {
    All { began: u64 },
    Spans(Participation),
}

impl Share {
    fn joined_at(&self) -> u64 {
        match self {
            Self::All { began } => *began,
            Self::Spans(side) => side.joined_at,
        }
    }

    fn last_visible(&self, latest: u64) -> Option<Number> {
        match self {
            Self::All { .. } => (latest > 0).then_some(Number(latest)),
            Self::Spans(side) => side.last_visible(latest),
        }
    }

    fn unread_past(&self, read: u64, latest: u64) -> u64 {
        match self {
            Self::All { .. } => latest.saturating_sub(read),
            Self::Spans(side) => side.unread_past(read, latest),
        }
    }
}

impl InInbox for Placed {
    fn updated_at(&self) -> u64 {
        self.updated_at
    }

    fn inbox_id(&self) -> &str {
        self.id.as_str()
    }
}

impl Snapshot {
    fn open(store: &EmbeddedStore) -> StoreResult<Self> {
        let txn = store.db.begin_read().map_err(storage)?;
        Ok(Self {
            group_sides: txn.open_table(GROUP_SIDES).map_err(storage)?,
            feed: txn.open_table(FEED).map_err(storage)?,
            log: txn.open_table(CONVERSATION_LOG).map_err(storage)?,
            direct_heads: txn.open_table(DIRECT_HEADS).map_err(storage)?,
            messages: txn.open_table(MESSAGES).map_err(storage)?,
            users: txn.open_table(USERS).map_err(storage)?,
            groups: txn.open_table(GROUPS).map_err(storage)?,
            directory: store.directory.clone(),
        })
    }

    /// Where `user`'s direct conversation with `peer` keeps its log, if it has begun in this
    /// snapshot: the writer's directory may know of a first message not committed here.
    fn direct_first(&self, user: &UserId, peer: &UserId) -> StoreResult<Option<u64>> {
        // A listing is written with its conversation's first entry: one is in this snapshot
        // exactly when the other is.
        let first = match self.directory.confirmed(&self.feed, user, peer)? {
            Some(known) => known,
            None => listed_first(&self.feed, user, peer)?,
        };
        Ok(first)
    }

    fn side(&self, user: &UserId, id: &ConversationId) -> StoreResult<Option<Keyed>> {
        match id {
            ConversationId::Direct(peer) => {
                let Some(first) = self.direct_first(user, peer)? else { return Ok(None) };
                let read = direct_head(&self.direct_heads, first)?.read_of(user, peer);
                // When it began matters only to a conversation without messages, which a direct
                // one never is.
                Ok(Some((LogAt::First(first), (Participation::direct(0), read))))
            }
            ConversationId::Group(group) => match group_side(&self.group_sides, user, group.as_str())? {
                Some(side) => {
                    let read = group_read(&self.log, group.as_str(), user)?;
                    Ok(Some((LogAt::Key(group.as_str().to_owned()), (side, read))))
                }
                None => Ok(None),
            },
        }
    }

    /// Every conversation of `user`'s, placed: their direct ones (each from its head alone),
    /// then their groups.
    fn placed_all(&self, user: &UserId) -> StoreResult<Vec<Placed>> {
        let mut all = Vec::new();
        for_each_listed(&self.feed, user, |peer, first, began| {
            let head = direct_head(&self.direct_heads, first)?;
            let read = head.read_of(user, &peer);
            let id = ConversationId::Direct(peer);
            all.push(self.place(id, LogAt::First(first), Share::All { began }, read, Some(head.newest))?);
            Ok(true)
        })?;
        let next = format!("{}\0", user.as_str());
        for entry in self.group_sides.range((user.as_str(), "")..(next.as_str(), "")).map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            let id = ConversationId::parse(key.value().1).ok_or_else(|| corrupt("conversation", key.value().1))?;
            let side: Participation = serde_json::from_slice(value.value()).map_err(|e| corrupt("conversation", e))?;
            let read = group_read(&self.log, id.as_str(), user)?;
            let log = LogAt::Key(id.as_str().to_owned());
            all.push(self.place(id, log, Share::Spans(side), read, None)?);
        }
        Ok(all)
    }

    fn name(&self, id: &ConversationId) -> StoreResult<Name> {
        let name = match id {
            ConversationId::Direct(peer) => read_user(&self.users, peer)?.map(|user| user.name),
            ConversationId::Group(group) => read_group(&self.groups, group.as_str())?.map(|group| group.name),
        };
        Ok(name.unwrap_or_else(|| Name::parse(ERASED).expect("a valid name")))
    }

    fn message(&self, shared: &str, n: Number) -> StoreResult<Option<MessageJson>> {
        logged(&self.log, &self.messages, shared, n.0)
    }

    /// The id of the message at number `n` (a read position), if there is one.
    fn id_at(&self, shared: &str, n: u64) -> StoreResult<Option<MessageId>> {
        if n == 0 {
            return Ok(None);
        }
        let message = self.message(shared, Number(n))?.map(|json| json.decode()).transpose();
        Ok(message.map_err(|e| corrupt("message", e))?.map(|message| message.id))
    }

    /// Where a conversation of `user`'s goes in the inbox: from the log's newest entry alone,
    /// unless the newest message they may see is not the conversation's newest (a group they left).
    fn place(
        &self,
        id: ConversationId,
        log: LogAt,
        share: Share,
        read: u64,
        newest: Option<Newest>,
    ) -> StoreResult<Placed> {
        let newest = match newest {
            Some(newest) => newest,
            None => newest_at(&self.log, &self.direct_heads, &log)?,
        };
        let latest = newest.map_or(0, |(n, _, _)| n);
        let updated_at = match (share.last_visible(latest), newest) {
            (None, _) => share.joined_at(),
            (Some(n), Some((newest, _, at))) if n.0 == newest => at,
            (Some(n), _) => self.sent_at(&log.key(), n)?.unwrap_or(share.joined_at()),
        };
        Ok(Placed { id, log, share, read, latest, updated_at })
    }

    fn sent_at(&self, shared: &str, n: Number) -> StoreResult<Option<u64>> {
        Ok(self.log.get((shared, n.0)).map_err(storage)?.map(|entry| entry.value().1))
    }

    fn conversation(&self, placed: Placed) -> StoreResult<Conversation> {
        let Placed { id, log, share, read, latest, updated_at } = placed;
        let shared = log.key();
        let last_message = match share.last_visible(latest) {
            Some(n) => self.message(&shared, n)?,
            None => None,
        };
        Ok(Conversation {
            name: self.name(&id)?,
            updated_at,
            unread: share.unread_past(read, latest),
            read_up_to: self.id_at(&shared, read)?,
            last_message,
            id,
        })
    }
}

impl EmbeddedStore {
    pub(super) fn inbox_now(
        &self,
        user: &UserId,
        before: Option<&InboxCursor>,
        limit: usize,
    ) -> StoreResult<InboxPage> {
        let snapshot = Snapshot::open(self)?;
        let (page, next) = page_of(snapshot.placed_all(user)?, before, limit);
        let conversations = page.into_iter().map(|placed| snapshot.conversation(placed)).collect::<StoreResult<_>>()?;
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
        let Some((log, (side, _))) = snapshot.side(user, id)? else { return Ok(None) };
        let latest = newest_at(&snapshot.log, &snapshot.direct_heads, &log)?.map_or(0, |(n, _, _)| n);
        let shared = log.key();
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
        Ok(Some(HistoryPage { next: next_page(from, &messages, at.is_some()), messages, vouched: None }))
    }

    pub(super) fn conversation_now(&self, user: &UserId, id: &ConversationId) -> StoreResult<ConversationDetail> {
        let snapshot = Snapshot::open(self)?;
        let keyed = snapshot.side(user, id)?.ok_or(Rejection::UnknownConversation)?;
        let members = match id {
            ConversationId::Group(group) => {
                let group = read_group(&snapshot.groups, group.as_str())?.ok_or(Rejection::UnknownConversation)?;
                group.require_member(user)?;
                group.members
            }
            ConversationId::Direct(peer) if peer == user => vec![user.clone()],
            ConversationId::Direct(peer) => vec![user.clone(), peer.clone()],
        };
        let (log, (side, read)) = keyed;
        let shared = log.key().into_owned();
        let mut receipts = Vec::with_capacity(members.len());
        for member in members {
            let theirs = snapshot.side(&member, &id.seen_by(user, &member))?.map_or(0, |(_, (_, read))| read);
            receipts.push(Receipt { read_up_to: snapshot.id_at(&shared, theirs)?, user: member });
        }
        let placed = snapshot.place(id.clone(), log, Share::Spans(side), read, None)?;
        let conversation = snapshot.conversation(placed)?;
        Ok(ConversationDetail { conversation, members: receipts })
    }
}

#[cfg(test)]
mod tests {
    use super::Share;
    use crate::domain::Participation;

    #[test]
    fn a_direct_share_counts_as_a_participation_from_the_start() {
        let (share, side) = (Share::All { began: 7 }, Participation::direct(7));
        assert_eq!(share.joined_at(), side.joined_at);
        for latest in [0, 1, 2, 10] {
            assert_eq!(share.last_visible(latest), side.last_visible(latest), "latest {latest}");
            for read in [0, 1, 5, 10, 11] {
                assert_eq!(share.unread_past(read, latest), side.unread_past(read, latest), "{read} of {latest}");
            }
        }
    }
}
