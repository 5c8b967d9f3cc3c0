//! Where each direct conversation's log is. A direct conversation's log is kept under its first
//! message's key ([`direct_log_key`]), not under its two users' ids: new conversations then sort
//! side by side, so the first messages of a batch share one page of the log instead of each
//! dirtying a page of its own — the writer is bound by the pages a commit writes, and nearly
//! every message of a many-to-many load is the first of its conversation.
//!
//! The way from two users to that key is each user's listing of their direct conversations
//! (in the feed table, newest first, beside their feed), which holds every conversation's peer
//! and first message key. Reading a user's whole listing per send would cost the writer as many
//! entries as they have conversations, so the writer keeps the listings it has read here, in
//! memory: bounded, filled only by the writer, from its own transaction, so nothing a reader's
//! older snapshot saw can make it stale.
//!
//! What it holds is a candidate, which the listing entry itself confirms (one lookup). Readers
//! confirm it in their own snapshot, or read their snapshot's listing when nothing is held: what
//! the writer knows may be ahead of a reader's snapshot (a conversation whose first message is not
//! committed yet, or never will be), and its listing entry is then not in the snapshot, which is
//! what a conversation that has not begun looks like.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use redb::ReadableTable;

use super::tables::{DirectLogKey, direct_listing, direct_listings, storage};
use crate::domain::UserId;
use crate::store::StoreResult;

type FeedTable = (&'static str, u64);

/// Entries the directory holds at most (a conversation is an entry in each of its users'
/// listings), some 30 bytes each: about 4 MiB. Past it, the listings of other users make room.
pub const CAPACITY: usize = 1 << 17;

/// The key of a direct conversation's log, from its first message's key ([`DirectLogKey`]).
pub fn direct_log_key(first: u64) -> String {
    DirectLogKey::new(first).as_str().to_owned()
}

/// What is known of a user's conversation with a peer without reading anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// It began with the message stored under this key, if the user's listing has an entry under
    /// it for the peer ([`Directory`] keeps peers by a hash, which two peers may share).
    Candidate(u64),
    /// There is none: the user's whole listing is here and names no peer of that hash.
    None,
    /// Neither user's listing is here.
    Unknown,
}

pub struct Directory {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Peers are kept by a 64-bit keyed hash of their id (SipHash, keys random per process), 16
    /// bytes an entry instead of an id's ~80; a shared hash only makes a candidate the listing
    /// does not confirm, and the listing is then read.
    hasher: RandomState,
}

#[derive(Default)]
struct Inner {
    /// Users whose whole listing is here: the peer's hash → first message key.
    listings: HashMap<UserId, HashMap<u64, u64>>,
    entries: usize,
}

impl Directory {
    pub fn new(capacity: usize) -> Self {
        Self { inner: Mutex::new(Inner::default()), capacity, hasher: RandomState::new() }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves the maps whole, so a panic elsewhere cannot leave them half-done.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn hash(&self, user: &UserId) -> u64 {
        self.hasher.hash_one(user.as_str())
    }

    pub fn known(&self, user: &UserId, peer: &UserId) -> Known {
        let inner = self.inner();
        if let Some(peers) = inner.listings.get(user) {
            return peers.get(&self.hash(peer)).map_or(Known::None, |first| Known::Candidate(*first));
        }
        // Both listings name a conversation, so the peer's alone can tell that it exists — but
        // not that it does not (an erased user's listing is gone while their peers' stay).
        match inner.listings.get(peer).and_then(|peers| peers.get(&self.hash(user))) {
            Some(first) => Known::Candidate(*first),
            None => Known::Unknown,
        }
    }

    /// For the writer, in its transaction: the first message key of `user`'s conversation with
    /// `peer`, reading `user`'s listing into the directory when it does not know for sure.
    pub fn first(
        &self,
        feed: &impl ReadableTable<FeedTable, u64>,
        user: &UserId,
        peer: &UserId,
    ) -> StoreResult<Option<u64>> {
        if let Some(known) = self.confirmed(feed, user, peer)? {
            return Ok(known);
        }
        let (listing, first) = self.listing(feed, user, peer)?;
        self.hold(user, listing);
        Ok(first)
    }

    /// What is held of `user`'s conversation with `peer`, a candidate confirmed by the listing in
    /// `feed` (the writer's transaction, or a reader's snapshot): `Some` of its first message key
    /// or of none, or `None` when only reading the listing can tell.
    pub fn confirmed(
        &self,
        feed: &impl ReadableTable<FeedTable, u64>,
        user: &UserId,
        peer: &UserId,
    ) -> StoreResult<Option<Option<u64>>> {
        match self.known(user, peer) {
            Known::Candidate(first) if is_listed(feed, user, first, peer)? => Ok(Some(Some(first))),
            Known::None => Ok(Some(None)),
            _ => Ok(None),
        }
    }

    /// `user`'s whole listing as the directory keeps it, and the first message key of their
    /// conversation with `peer`.
    fn listing(
        &self,
        feed: &impl ReadableTable<FeedTable, u64>,
        user: &UserId,
        peer: &UserId,
    ) -> StoreResult<(HashMap<u64, u64>, Option<u64>)> {
        let (mut listing, mut found) = (HashMap::new(), None);
        for_each_listed(feed, user, |listed, first, _| {
            if listed == *peer {
                found = Some(first);
            }
            listing.insert(self.hash(&listed), first);
            Ok(true)
        })?;
        Ok((listing, found))
    }

    /// Keeps `user`'s whole listing, first making room by letting others' go.
    fn hold(&self, user: &UserId, listing: HashMap<u64, u64>) {
        let mut inner = self.inner();
        if let Some(replaced) = inner.listings.remove(user) {
            inner.entries -= replaced.len();
        }
        while inner.entries + listing.len() > self.capacity {
            let Some(other) = inner.listings.keys().next().cloned() else { break };
            let gone = inner.listings.remove(&other).map_or(0, |peers| peers.len());
            inner.entries -= gone;
        }
        inner.entries += listing.len();
        inner.listings.insert(user.clone(), listing);
    }

    /// For the writer: `a` and `b`'s conversation began with the message under `first` (its
    /// listings are written in the open transaction).
    pub fn began(&self, a: &UserId, b: &UserId, first: u64) {
        let mut inner = self.inner();
        for (user, peer) in [(a, b), (b, a)] {
            let peer = self.hash(peer);
            if let Some(peers) = inner.listings.get_mut(user)
                && peers.insert(peer, first).is_none()
            {
                inner.entries += 1;
            }
        }
    }

    /// For the writer: `user` was erased with their listing.
    pub fn forget(&self, user: &UserId) {
        let mut inner = self.inner();
        if let Some(peers) = inner.listings.remove(user) {
            inner.entries -= peers.len();
        }
    }

    /// For the writer: its transaction was not committed, so what it told the directory may not
    /// have happened. Listings are read again as they are needed.
    pub fn forget_all(&self) {
        *self.inner() = Inner::default();
    }
}

/// Whether `user`'s listing names their conversation with `peer` as begun by the message under
/// `first`: one lookup, in the page of the user's newest feed entries when it is recent.
pub fn is_listed(
    feed: &impl ReadableTable<FeedTable, u64>,
    user: &UserId,
    first: u64,
    peer: &UserId,
) -> StoreResult<bool> {
    let key = direct_listing(user.as_str(), first, peer.as_str());
    Ok(feed.get((key.as_str(), 0)).map_err(storage)?.is_some())
}

/// Calls `each` with the peer, first message key and start (milliseconds) of every conversation
/// `user`'s listing names, newest first, until it returns false.
pub fn for_each_listed(
    feed: &impl ReadableTable<FeedTable, u64>,
    user: &UserId,
    mut each: impl FnMut(UserId, u64, u64) -> StoreResult<bool>,
) -> StoreResult<()> {
    let (range, at) = direct_listings(user.as_str());
    for entry in feed.range((range.start.0.as_str(), 0)..(range.end.0.as_str(), 0)).map_err(storage)? {
        let (key, began) = entry.map_err(storage)?;
        let (peer, first) = super::tables::listed(key.value().0, at)?;
        if !each(peer, first, began.value())? {
            break;
        }
    }
    Ok(())
}

/// The first message key of `user`'s conversation with `peer`, from `user`'s listing in a
/// snapshot; `None` if it names no such conversation.
pub fn listed_first(
    feed: &impl ReadableTable<FeedTable, u64>,
    user: &UserId,
    peer: &UserId,
) -> StoreResult<Option<u64>> {
    let mut found = None;
    for_each_listed(feed, user, |listed, first, _| {
        if listed == *peer {
            found = Some(first);
        }
        Ok(found.is_none())
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use redb::{Database, TableDefinition};

    use super::*;

    fn three() -> [UserId; 3] {
        [UserId::generate(), UserId::generate(), UserId::generate()]
    }

    fn hold(directory: &Directory, user: &UserId, peers: &[(&UserId, u64)]) {
        directory.hold(user, peers.iter().map(|(peer, first)| (directory.hash(peer), *first)).collect());
    }

    #[test]
    fn a_user_whose_listing_is_here_answers_for_every_peer() {
        let directory = Directory::new(CAPACITY);
        let [a, b, c] = three();
        hold(&directory, &a, &[(&b, 7)]);
        assert_eq!(directory.known(&a, &b), Known::Candidate(7));
        assert_eq!(directory.known(&b, &a), Known::Candidate(7), "the peer's side, from a's listing");
        assert_eq!(directory.known(&a, &c), Known::None);
        assert_eq!(directory.known(&c, &a), Known::Unknown, "c's listing may name an erased a");
        directory.began(&a, &c, 9);
        assert_eq!(directory.known(&a, &c), Known::Candidate(9));
        assert_eq!(directory.inner().entries, 2);
        directory.forget(&a);
        assert_eq!(directory.known(&a, &b), Known::Unknown);
        assert_eq!(directory.inner().entries, 0);
    }

    #[test]
    fn past_its_capacity_other_listings_make_room() {
        let directory = Directory::new(3);
        let [a, b, c] = three();
        hold(&directory, &a, &[(&b, 1), (&c, 2)]);
        hold(&directory, &b, &[(&a, 1), (&c, 3)]);
        assert_eq!(directory.known(&a, &c), Known::Unknown, "a's listing made room for b's");
        assert_eq!(directory.known(&b, &c), Known::Candidate(3));
        assert_eq!(directory.inner().entries, 2);
        hold(&directory, &b, &[(&a, 1), (&c, 3), (&UserId::generate(), 4)]);
        assert_eq!(directory.inner().entries, 3, "a listing held again replaces itself");
        directory.began(&c, &a, 4);
        assert_eq!(directory.inner().entries, 3, "neither listing is here: nothing to add to");
        directory.forget_all();
        assert_eq!(directory.known(&b, &c), Known::Unknown);
    }

    #[test]
    fn a_candidate_the_listing_does_not_confirm_sends_the_writer_to_the_listing() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let db = Database::create(file.path()).unwrap();
        let txn = db.begin_write().unwrap();
        let feed_table: TableDefinition<(&str, u64), u64> = TableDefinition::new("feed");
        let mut feed = txn.open_table(feed_table).unwrap();
        let [a, b, c] = three();
        feed.insert((direct_listing(a.as_str(), 5, b.as_str()).as_str(), 0), 0).unwrap();
        let directory = Directory::new(CAPACITY);
        // What a shared hash would give: c's conversation's key for b.
        hold(&directory, &a, &[(&b, 6)]);
        assert_eq!(directory.first(&feed, &a, &b).unwrap(), Some(5), "read from the listing");
        assert_eq!(directory.known(&a, &b), Known::Candidate(5), "and held as it is");
        assert_eq!(directory.first(&feed, &a, &c).unwrap(), None);
        assert_eq!(listed_first(&feed, &a, &b).unwrap(), Some(5));
        assert!(is_listed(&feed, &a, 5, &b).unwrap() && !is_listed(&feed, &a, 6, &b).unwrap());
    }
}

/// The directory inside the store: across an aborted batch and an earlier layout's data.
#[cfg(test)]
mod store_tests {
    use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

    use super::super::tables::{CONVERSATION_LOG, DIRECT_HEADS, META, WriteTables};
    use super::super::upgrade;
    use super::super::{EmbeddedOptions, EmbeddedStore, deliver};
    use crate::domain::conversation::{HistoryFrom, pair_key};
    use crate::domain::message::Outgoing;
    use crate::domain::{ConversationId, Message, Recipient, Text, User, UserId};
    use crate::store::{Store, StoreError};

    async fn users(store: &EmbeddedStore, n: usize) -> Vec<UserId> {
        let mut ids = Vec::new();
        for i in 0..n {
            let user = User { id: UserId::generate(), name: crate::domain::Name::parse(&format!("u{i}")).unwrap() };
            store.create_user(&user).await.unwrap();
            ids.push(user.id);
        }
        ids
    }

    fn outgoing(from: &UserId, to: &UserId, text: &str) -> Outgoing {
        let message = Message::new(from.clone(), Recipient::Direct(to.clone()), Text::parse(text.to_owned()).unwrap());
        Outgoing { message, client_id: None }
    }

    async fn texts(store: &EmbeddedStore, user: &UserId, peer: &UserId) -> Vec<String> {
        let id = ConversationId::Direct(peer.clone());
        let page = store.history(user, &id, HistoryFrom::After(crate::domain::Number(0)), None, 100).await.unwrap();
        let page = page.expect("a conversation");
        page.messages.iter().map(|(_, json)| json.decode().unwrap().text.as_str().to_owned()).collect()
    }

    #[tokio::test]
    async fn a_first_message_in_a_batch_that_failed_never_began_its_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("db.redb"), &EmbeddedOptions::default()).unwrap();
        let [a, b, c, d] = <[UserId; 4]>::try_from(users(&store, 4).await).unwrap();
        store.send(&outgoing(&a, &c, "a's listing is read into the directory")).await.unwrap();
        // a's first message to b, then a failure in the same batch: nothing of it is committed,
        // and the message key it took is free again.
        let failed = outgoing(&a, &b, "never sent");
        let outcome: Result<(), StoreError> = store
            .writer
            .write(move |tables: &mut WriteTables<'_>| {
                deliver(
                    tables,
                    &failed,
                    vec![
                        failed.message.from.clone(),
                        match &failed.message.to {
                            Recipient::Direct(to) => to.clone(),
                            Recipient::Group(_) => unreachable!(),
                        },
                    ],
                )?;
                Err(StoreError::unavailable("injected after the first message"))
            })
            .await;
        assert!(outcome.is_err());
        // c and d's first message takes that key; a's next message to b is still their first.
        store.send(&outgoing(&c, &d, "c to d")).await.unwrap();
        let sent = store.send(&outgoing(&a, &b, "a to b")).await.unwrap();
        assert_eq!(sent.message.id.number(), Some(crate::domain::Number(1)));
        // Nor did it take feed positions: a's second entry and b's first follow on from what is
        // committed (the writer's memory of feed heads forgot the failed batch's).
        let positions: Vec<u64> = sent.deliveries.iter().map(|(_, seq)| seq.0).collect();
        assert_eq!(positions, [2, 1]);
        assert_eq!(texts(&store, &d, &c).await, ["c to d"]);
        assert_eq!(texts(&store, &b, &a).await, ["a to b"]);
    }

    #[tokio::test]
    async fn logs_under_their_users_ids_move_to_their_first_message_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (a, b) = {
            let store = EmbeddedStore::open(&path, &EmbeddedOptions::default()).unwrap();
            let [a, b] = <[UserId; 2]>::try_from(users(&store, 2).await).unwrap();
            for text in ["one", "two", "three"] {
                store.send(&outgoing(&a, &b, text)).await.unwrap();
            }
            (a, b)
        };
        // The earliest layout: the same entries under "<low>#<high>", the read positions beside
        // them at the highest number, and no heads.
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut log = txn.open_table(CONVERSATION_LOG).unwrap();
                let moved: Vec<(String, u64, (u64, u64))> = log
                    .range(("d", 0)..("e", 0))
                    .unwrap()
                    .map(|e| e.unwrap())
                    .map(|(k, v)| (k.value().0.to_owned(), k.value().1, v.value()))
                    .collect();
                assert_eq!(moved.len(), 3, "three messages");
                log.retain_in(("d", 0)..("e", 0), |_, _| false).unwrap();
                for (_, n, value) in moved {
                    log.insert((pair_key(&a, &b).as_str(), n), value).unwrap();
                }
                log.insert((pair_key(&a, &b).as_str(), u64::MAX), if a < b { (3, 0) } else { (0, 3) }).unwrap();
                txn.open_table(META).unwrap().remove(upgrade::BUILT).unwrap();
            }
            assert!(txn.delete_table(DIRECT_HEADS).unwrap());
            txn.commit().unwrap();
            assert_eq!(db.begin_read().unwrap().open_table(CONVERSATION_LOG).unwrap().len().unwrap(), 4);
        }
        let store = EmbeddedStore::open(&path, &EmbeddedOptions::default()).unwrap();
        assert_eq!(texts(&store, &b, &a).await, ["one", "two", "three"]);
        let sent = store.send(&outgoing(&b, &a, "four")).await.unwrap();
        assert_eq!(sent.message.id.number(), Some(crate::domain::Number(4)));
        let inbox = store.inbox(&a, None, 10).await.unwrap();
        assert_eq!(inbox.conversations.len(), 1);
        assert_eq!(inbox.conversations[0].unread, 1, "a read up to their own third message");
    }
}
