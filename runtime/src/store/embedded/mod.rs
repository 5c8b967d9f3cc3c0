//! The local backend: one redb file, written by a single group-committing thread.
//!
//! # Why redb
//! Measured with `tools/engine-choice` (README, "Embedded engine") on the runtime's own shapes:
//! redb served 2.3× the feed reads of SQLite in WAL mode, while SQLite committed faster. Polls
//! outnumber sends sixty to one in this service, and group commit makes either engine's write
//! rate exceed what the HTTP layer can feed it. redb is also pure Rust (no C toolchain) and gives
//! MVCC snapshots: readers never block the writer or each other.
//!
//! # How the cursor invariant holds
//! Feed positions are assigned by the writer thread inside the one write transaction that is
//! open at any time, as "newest position of this feed + 1", and a transaction's writes become
//! visible to readers all at once when it commits. So a reader's snapshot contains either all of
//! a transaction's entries or none, and every earlier position was committed by an earlier
//! (or the same) transaction: no reader can see position N+1 without N.

mod conversation_reads;
mod conversations;
mod delivery;
mod direct_heads;
mod directory;
mod erase;
mod heads;
mod identity;
mod limits;
mod logged;
#[cfg(test)]
mod recovery;
mod tables;
mod upgrade;
mod wal;
mod writer;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable};

use self::delivery::{append_entry, deliver, recipients, replay};
use self::directory::Directory;
use self::heads::FeedHeads;
use self::limits::Counters;
use self::tables::*;
use self::wal::Wal;
use self::writer::{Log, Writer};
use super::events::FeedEvents;
use super::{Appended, Erased, MembershipChange, Rotation, Store, StoreError, StoreResult};
use crate::domain::conversation::{
    ConversationDetail, HistoryFrom, HistoryPage, InboxCursor, InboxPage, MembershipChangeKind, ReadOutcome, Vouched,
};
use crate::domain::message::Outgoing;
use crate::domain::session::UnixSecs;
use crate::domain::{
    AppUserId, ConversationId, FeedPage, Group, GroupId, Name, Participation, ReadMark, RefreshToken, Rejection, Rule,
    RuleLimits, Sent, Seq, Session, SessionId, User, UserId,
};

#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// redb's page cache. Bounded so the server's memory stays flat as data grows.
    pub cache_bytes: usize,
    /// Deliveries a stream may have waiting in this process before it counts as fallen behind.
    pub stream_buffer: usize,
    /// The shared limits this store counts (all off unless set).
    pub limits: RuleLimits,
    /// How long after a durable redb commit the writer makes the next one when it finds nothing
    /// queued (see [`writer`]): a steady load empties the queue between batches.
    pub idle_durable_after: std::time::Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 64 * 1024 * 1024,
            stream_buffer: 256,
            limits: RuleLimits::OFF,
            idle_durable_after: std::time::Duration::from_millis(200),
        }
    }
}

pub struct EmbeddedStore {
    // Declared first so it is dropped first: the writer thread stops before the file closes.
    writer: Writer,
    db: Arc<Database>,
    directory: Arc<Directory>,
    events: Arc<FeedEvents>,
    counters: Arc<Counters>,
}

impl EmbeddedStore {
    /// Opens (or creates) the database file at `path`, and applies what its write-ahead log holds
    /// beyond it (after a crash).
    pub fn open(path: &Path, options: &EmbeddedOptions) -> anyhow::Result<Self> {
        let db = Database::builder().set_cache_size(options.cache_bytes).create(path)?;
        let (mut wal, records) = Wal::open(&wal::path_for(path))?;
        // Create every table up front, so readers never meet a missing table.
        let ops = RefCell::new(logged::Ops::default());
        let txn = db.begin_write()?;
        let retired: Vec<_> =
            txn.list_tables()?.filter(|table| RETIRED.contains(&redb::TableHandle::name(table))).collect();
        for table in retired {
            txn.delete_table(table)?;
        }
        let directory = Arc::new(Directory::new(directory::CAPACITY));
        let mut heads = FeedHeads::new(heads::CAPACITY);
        let seq = {
            let mut meta = txn.open_table(META)?;
            let applied = meta.get(WAL_APPLIED)?.map_or(0, |seq| seq.value());
            let mut tables = WriteTables::open(&txn, &ops, &directory, &mut heads)?;
            let seq = logged::replay_after(&mut tables, &records, applied)?;
            upgrade::upgrade(&mut meta, &mut tables)?;
            meta.insert(WAL_APPLIED, seq)?;
            seq
        };
        txn.commit()?;
        wal.clear()?;
        let db = Arc::new(db);
        let writer =
            Writer::start(db.clone(), directory.clone(), heads, Log::new(wal, seq, options.idle_durable_after))?;
        let counters = Arc::new(Counters::new(options.limits));
        Ok(Self { db, writer, directory, events: FeedEvents::new(options.stream_buffer), counters })
    }

    fn read(&self) -> StoreResult<redb::ReadTransaction> {
        self.db.begin_read().map_err(storage)
    }
}

/// Loads a group for modification, applies `change` and writes it back if it changed.
fn update_group(
    tables: &mut WriteTables<'_>,
    id: &GroupId,
    change: impl FnOnce(&mut Group, &redb::Table<&'static str, &'static str>) -> Result<bool, StoreError>,
) -> StoreResult<bool> {
    let mut group = read_group(&*tables.groups, id.as_str())?.ok_or(Rejection::UnknownGroup)?;
    let changed = change(&mut group, &tables.users)?;
    if changed {
        tables.groups.insert(id.as_str(), encode(&group)?.as_slice()).map_err(storage)?;
    }
    Ok(changed)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.writer
            .write(move |tables| {
                tables.users.insert(user.id.as_str(), user.name.as_str()).map_err(storage)?;
                Ok(())
            })
            .await
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let txn = self.read()?;
        read_user(&txn.open_table(USERS).map_err(storage)?, id)
    }

    async fn upsert_app_user(&self, app_user: &AppUserId, name: &Name, new_id: &UserId) -> StoreResult<User> {
        self.upsert_app_user_now(app_user, name, new_id).await
    }

    async fn erase_app_user(&self, app_user: &AppUserId) -> StoreResult<Option<Erased>> {
        self.erase_app_user_now(app_user).await
    }

    async fn app_user(&self, app_user: &AppUserId) -> StoreResult<Option<User>> {
        self.app_user_now(app_user).await
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.create_session_now(session).await
    }

    async fn rotate_session(&self, presented: &RefreshToken, next: &Session, now: UnixSecs) -> StoreResult<Rotation> {
        self.rotate_session_now(presented, next, now).await
    }

    async fn revoke_session(&self, user: &UserId, session: &SessionId) -> StoreResult<()> {
        self.revoke_session_now(user, session).await
    }

    async fn revoke_sessions(&self, user: &UserId) -> StoreResult<()> {
        self.revoke_sessions_now(user).await
    }

    async fn block(&self, blocker: &UserId, target: &UserId) -> StoreResult<()> {
        let (blocker, target) = (blocker.clone(), target.clone());
        self.writer
            .write(move |tables| {
                if tables.users.get(target.as_str()).map_err(storage)?.is_none() {
                    return Err(Rejection::UnknownUser.into());
                }
                tables.blocks.insert((blocker.as_str(), target.as_str()), ()).map_err(storage)?;
                Ok(())
            })
            .await
    }

    async fn unblock(&self, blocker: &UserId, target: &UserId) -> StoreResult<()> {
        let (blocker, target) = (blocker.clone(), target.clone());
        self.writer
            .write(move |tables| {
                tables.blocks.remove((blocker.as_str(), target.as_str())).map_err(storage)?;
                Ok(())
            })
            .await
    }

    async fn blocked(&self, blocker: &UserId) -> StoreResult<Vec<UserId>> {
        let txn = self.read()?;
        let blocks = txn.open_table(BLOCKS).map_err(storage)?;
        let mut blocked = Vec::new();
        for entry in blocks.range((blocker.as_str(), "")..).map_err(storage)? {
            let (key, _) = entry.map_err(storage)?;
            let (owner, target) = key.value();
            if owner != blocker.as_str() {
                break;
            }
            blocked.push(UserId::parse(target).ok_or_else(|| corrupt("block", target))?);
        }
        Ok(blocked)
    }

    async fn create_group(&self, group: &Group) -> StoreResult<()> {
        let group = group.clone();
        self.writer
            .write(move |tables| {
                tables.groups.insert(group.id.as_str(), encode(&group)?.as_slice()).map_err(storage)?;
                let id = crate::domain::ConversationId::Group(group.id.clone());
                let mut side = Participation { spans: Vec::new(), read: None, joined_at: conversations::now_millis() };
                side.join(0, side.joined_at);
                tables
                    .group_sides
                    .insert((group.owner.as_str(), id.as_str()), encode(&side)?.as_slice())
                    .map_err(storage)?;
                Ok(())
            })
            .await
    }

    async fn group(&self, id: &GroupId) -> StoreResult<Option<Group>> {
        let txn = self.read()?;
        read_group(&txn.open_table(GROUPS).map_err(storage)?, id.as_str())
    }

    async fn add_member(&self, change: &MembershipChange, max_members: usize) -> StoreResult<Option<Appended>> {
        let change = change.clone();
        let events = self.events.clone();
        self.writer
            .write_then(
                move |tables| {
                    let blocked =
                        tables.blocks.get((change.user.as_str(), change.caller.as_str())).map_err(storage)?.is_some();
                    let admitted = update_group(tables, &change.group, |group, users| {
                        group.require_member(&change.caller)?;
                        if users.get(change.user.as_str()).map_err(storage)?.is_none() {
                            return Err(Rejection::UnknownUser.into());
                        }
                        // Consent: whoever blocked the caller is not added by them.
                        if blocked && !group.is_member(&change.user) {
                            return Err(Rejection::BlockedByTarget.into());
                        }
                        Ok(group.admit(&change.user, max_members)?)
                    })?;
                    conversations::told(tables, &change, admitted.then_some(MembershipChangeKind::Added))
                },
                move |told| conversations::publish_told(&events, told),
            )
            .await
    }

    async fn remove_member(&self, change: &MembershipChange) -> StoreResult<Option<Appended>> {
        let change = change.clone();
        let events = self.events.clone();
        self.writer
            .write_then(
                move |tables| {
                    update_group(tables, &change.group, |group, _| {
                        group.remove(&change.caller, &change.user)?;
                        Ok(true)
                    })?;
                    conversations::told(tables, &change, Some(MembershipChangeKind::Removed))
                },
                move |told| conversations::publish_told(&events, told),
            )
            .await
    }

    async fn inbox(&self, user: &UserId, before: Option<&InboxCursor>, limit: usize) -> StoreResult<InboxPage> {
        self.inbox_now(user, before, limit)
    }

    async fn history(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        from: HistoryFrom,
        _vouched: Option<&Vouched>,
        limit: usize,
    ) -> StoreResult<Option<HistoryPage>> {
        // The side is read from the same snapshot as the page anyway: nothing to vouch for.
        self.history_now(user, conversation, from, limit)
    }

    async fn mark_read(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        up_to: &ReadMark,
    ) -> StoreResult<ReadOutcome> {
        let (user, conversation, up_to) = (user.clone(), conversation.clone(), up_to.clone());
        self.writer.write(move |tables| conversations::mark_read(tables, &user, &conversation, up_to)).await
    }

    async fn conversation(&self, user: &UserId, conversation: &ConversationId) -> StoreResult<ConversationDetail> {
        self.conversation_now(user, conversation)
    }

    async fn send(&self, outgoing: &Outgoing) -> StoreResult<Sent> {
        let outgoing = outgoing.clone();
        let events = self.events.clone();
        let counters = self.counters.clone();
        self.writer
            .write_then(
                move |tables| {
                    if let Some(replayed) = replay(tables, &outgoing)? {
                        return Ok(replayed);
                    }
                    let feeds = recipients(tables, &outgoing)?;
                    // Counted before the writes, on the writer thread: a batch that fails after
                    // it (an I/O error) leaves the send counted, which errs on the side of limiting.
                    let sender = outgoing.message.from.as_str();
                    let fanout = u32::try_from(feeds.len()).unwrap_or(u32::MAX);
                    counters.charge(&[(Rule::SendsPerUser, sender, 1), (Rule::FanoutPerUser, sender, fanout)])?;
                    deliver(tables, &outgoing, feeds)
                },
                move |sent| events.publish(&sent.message, &sent.deliveries),
            )
            .await
    }

    async fn charge(&self, rule: Rule, subject: &str, amount: u32) -> StoreResult<()> {
        self.counters.charge(&[(rule, subject, amount)])
    }

    fn feed_events(&self) -> Option<Arc<FeedEvents>> {
        Some(self.events.clone())
    }

    async fn feed(&self, user: &UserId, after: Seq, limit: usize) -> StoreResult<FeedPage> {
        // Reads run inline: they are short, in-cache B-tree lookups that never wait for the
        // writer (MVCC), so handing them to a blocking pool would cost more than it saves.
        let txn = self.read()?;
        let feed = txn.open_table(FEED).map_err(storage)?;
        let messages = txn.open_table(MESSAGES).map_err(storage)?;
        let first = after.0.saturating_add(1);
        let (mut entries, mut bytes) = (Vec::with_capacity(limit.min(64)), 0);
        let mut has_more = false;
        for entry in feed.range((user.as_str(), first)..=(user.as_str(), u64::MAX)).map_err(storage)? {
            if entries.len() == limit {
                has_more = true;
                break;
            }
            let (key, message_key) = entry.map_err(storage)?;
            let json = read_message_json(&messages, message_key.value())?;
            if !FeedPage::fits(entries.len(), bytes, json.as_bytes().len()) {
                has_more = true;
                break;
            }
            bytes += json.as_bytes().len();
            entries.push((Seq(key.value().1), json));
        }
        Ok(FeedPage { entries, has_more })
    }
}

#[cfg(test)]
mod tests {
    use redb::TableDefinition;

    use super::*;

    #[test]
    fn a_data_directory_with_the_earlier_conversation_tables_opens_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.redb");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            // The layout of the first conversations commit: a different value type under "log".
            let log: TableDefinition<(&str, u64), u64> = TableDefinition::new("log");
            txn.open_table(log).unwrap().insert(("g_x", 1), 7).unwrap();
            let summaries: TableDefinition<&str, &[u8]> = TableDefinition::new("summaries");
            txn.open_table(summaries).unwrap().insert("g_x", b"{}".as_slice()).unwrap();
            txn.open_table(USERS).unwrap().insert("u_kept", "kept").unwrap();
            txn.commit().unwrap();
        }
        let store = EmbeddedStore::open(&path, &EmbeddedOptions::default()).expect("opens");
        let txn = store.db.begin_read().unwrap();
        let names: Vec<String> = txn.list_tables().unwrap().map(|t| redb::TableHandle::name(&t).to_owned()).collect();
        assert!(RETIRED.iter().all(|retired| !names.iter().any(|name| name == retired)), "{names:?}");
        assert!(txn.open_table(USERS).unwrap().get("u_kept").unwrap().is_some(), "everything else stays");
    }
}
