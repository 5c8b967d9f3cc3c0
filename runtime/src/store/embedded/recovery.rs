//! The write-ahead log after a crash, on the store itself: a copy of the data files taken while
//! batches are only logged — redb's file as of its last durable commit, which is what a crash
//! leaves on disk — opens with every one of them, and the same copy without its log does not.

use std::path::Path;
use std::time::Duration;

use super::{EmbeddedOptions, EmbeddedStore, wal};
use crate::domain::message::Outgoing;
use crate::domain::{Message, Name, Recipient, Seq, Text, User, UserId};
use crate::store::Store;

/// Each user's feed (message JSON) and inbox (id, unread), as the store answers them.
async fn views(store: &EmbeddedStore, users: &[UserId]) -> Vec<(Vec<String>, Vec<(String, u64)>)> {
    let mut views = Vec::new();
    for user in users {
        let feed = store.feed(user, Seq::START, 100).await.unwrap();
        let feed = feed.entries.iter().map(|(_, json)| String::from_utf8_lossy(json.as_bytes()).into_owned()).collect();
        let inbox = store.inbox(user, None, 100).await.unwrap();
        let inbox = inbox.conversations.iter().map(|c| (c.id.as_str().to_owned(), c.unread)).collect();
        views.push((feed, inbox));
    }
    views
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

#[tokio::test]
async fn batches_only_in_the_log_come_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.redb");
    // No durable redb commit after the one at open: every batch below is only in the log.
    let options = EmbeddedOptions { idle_durable_after: Duration::from_secs(3600), ..EmbeddedOptions::default() };
    let store = EmbeddedStore::open(&live, &options).unwrap();
    let mut users = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let user = User { id: UserId::generate(), name: Name::parse(name).unwrap() };
        store.create_user(&user).await.unwrap();
        users.push(user.id);
    }
    let [a, b, c] = [&users[0], &users[1], &users[2]];
    for (from, to, n) in [(a, b, 5), (b, a, 3), (a, a, 1), (c, a, 2)] {
        for i in 0..n {
            let text = Text::parse(format!("{i}")).unwrap();
            let message = Message::new(from.clone(), Recipient::Direct(to.clone()), text);
            store.send(&Outgoing { message, client_id: None }).await.unwrap();
        }
    }
    let before = views(&store, &users).await;
    assert_eq!(before[0].0.len(), 11, "ann's feed: 5 sent, 3 + 2 received, 1 note");

    // What a crash leaves: the files as they are on disk while the store runs.
    let crashed = dir.path().join("crashed.redb");
    let unlogged = dir.path().join("unlogged.redb");
    copy(&live, &crashed);
    copy(&wal::path_for(&live), &wal::path_for(&crashed));
    copy(&live, &unlogged);
    drop(store);

    let without_log = EmbeddedStore::open(&unlogged, &options).unwrap();
    assert!(without_log.user(a).await.unwrap().is_none(), "without its log, the copy holds none of it");
    drop(without_log);

    let recovered = EmbeddedStore::open(&crashed, &options).unwrap();
    assert_eq!(views(&recovered, &users).await, before, "replayed from the log");
    assert_eq!(std::fs::metadata(wal::path_for(&crashed)).unwrap().len(), 0, "and the log emptied");
    let message = Message::new(b.clone(), Recipient::Direct(c.clone()), Text::parse("after".into()).unwrap());
    let sent = recovered.send(&Outgoing { message, client_id: None }).await.unwrap();
    assert_eq!(sent.deliveries.iter().map(|(_, seq)| seq.0).collect::<Vec<_>>(), [9, 3], "positions go on");
    let after = views(&recovered, &users).await;
    drop(recovered);
    let reopened = EmbeddedStore::open(&crashed, &options).unwrap();
    assert_eq!(views(&reopened, &users).await, after, "a clean stop commits durably");
}
