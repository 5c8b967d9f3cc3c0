//! Builds stored data directly through the store library (much faster than over HTTP), with a
//! key the bench chooses, so it can issue the users' tokens and cursors itself.

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use runtime::domain::message::Outgoing;
use runtime::domain::session::now;
use runtime::domain::{AccessClaims, Group, GroupId, Keys, Message, Name, Recipient, SessionId, Text, User, UserId};
use runtime::store::Store;
use runtime::store::embedded::{EmbeddedOptions, EmbeddedStore};
use runtime::wiring::DATABASE_FILE;

/// How many store operations are in flight while loading: enough to fill the writer's batches.
const LOAD_CONCURRENCY: usize = 512;

/// A small deterministic generator (splitmix64): reproducible datasets without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The text of every generated message: about the size of a chat line.
pub fn text(i: usize) -> String {
    format!("message {i:>8}: the quick brown fox jumps over the lazy dog, twice, to make this line 100 bytes")
}

pub struct Dataset {
    pub keys: Keys,
    pub users: Vec<UserId>,
    pub tokens: Vec<String>,
    /// Groups with the indices of their members.
    pub groups: Vec<(GroupId, Vec<usize>)>,
}

impl Dataset {
    pub fn new() -> Self {
        Self { keys: Keys::generate(), users: Vec::new(), tokens: Vec::new(), groups: Vec::new() }
    }

    pub fn open(dir: &Path) -> Result<Arc<EmbeddedStore>, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let store = EmbeddedStore::open(&dir.join(DATABASE_FILE), &EmbeddedOptions::default())
            .map_err(|e| format!("opening the store in {}: {e:#}", dir.display()))?;
        Ok(Arc::new(store))
    }

    pub async fn add_users(&mut self, store: &Arc<EmbeddedStore>, count: usize) {
        let first = self.users.len();
        let new: Vec<User> = (first..first + count)
            .map(|i| User { id: UserId::generate(), name: Name::parse(&format!("user{i}")).unwrap() })
            .collect();
        futures::stream::iter(&new)
            .for_each_concurrent(LOAD_CONCURRENCY, |user| async move {
                store.create_user(user).await.expect("create user");
            })
            .await;
        for user in new {
            // Valid for the whole run (a day): the benchmark measures requests, not sign-ins.
            let claims =
                AccessClaims { user: user.id.clone(), session: SessionId::generate(), expires_at: now() + 86_400 };
            self.tokens.push(self.keys.issue_access_token(&claims));
            self.users.push(user.id);
        }
    }

    /// Groups of `size` consecutive users, starting at user `first`.
    pub async fn add_groups(&mut self, store: &Arc<EmbeddedStore>, first: usize, count: usize, size: usize) {
        for g in 0..count {
            let members: Vec<usize> = (first + g * size..first + (g + 1) * size).collect();
            let mut group = Group::new(Name::parse(&format!("group{g}")).unwrap(), self.users[members[0]].clone());
            group.members = members.iter().map(|&m| self.users[m].clone()).collect();
            store.create_group(&group).await.expect("create group");
            self.groups.push((group.id, members));
        }
    }

    /// Direct messages between the given (from, to) user indices.
    pub async fn add_direct_messages(&self, store: &Arc<EmbeddedStore>, pairs: Vec<(usize, usize)>) {
        futures::stream::iter(pairs.into_iter().enumerate())
            .for_each_concurrent(LOAD_CONCURRENCY, |(i, (from, to))| async move {
                let message = Message::new(
                    self.users[from].clone(),
                    Recipient::Direct(self.users[to].clone()),
                    Text::parse(text(i)).unwrap(),
                );
                store.send(&Outgoing { message, client_id: None }).await.expect("send");
            })
            .await;
    }
}
