//! Every suite against the embedded store, plus what only a file-backed store can show.

use messaging_tests::Backend;

async fn embedded() -> Option<Backend> {
    Some(Backend::embedded())
}

messaging_tests::store_conformance_tests!(embedded);
messaging_tests::api_tests!(embedded);

/// Users, groups, feeds (with their positions) and idempotency records survive closing and
/// reopening the file, and positions continue where they stopped.
#[tokio::test]
async fn everything_persists_across_reopening_the_file() {
    use runtime::domain::message::Outgoing;
    use runtime::domain::{ClientId, Group, Message, Name, Recipient, Seq, Text, User, UserId};
    use runtime::store::Store;
    use runtime::store::embedded::{EmbeddedOptions, EmbeddedStore};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let open = || EmbeddedStore::open(&path, &EmbeddedOptions::default()).unwrap();
    let alice = User { id: UserId::generate(), name: Name::parse("alice").unwrap() };
    let group = Group::new(Name::parse("team").unwrap(), alice.id.clone());
    let outgoing = |text: &str, client_id: &str| Outgoing {
        message: Message::new(alice.id.clone(), Recipient::Group(group.id.clone()), Text::parse(text.into()).unwrap()),
        client_id: Some(ClientId::parse(client_id).unwrap()),
    };
    let first = {
        let store = open();
        store.create_user(&alice).await.unwrap();
        store.create_group(&group).await.unwrap();
        store.send(&outgoing("one", "k1")).await.unwrap()
    };
    let store = open();
    assert_eq!(store.user(&alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.group(&group.id).await.unwrap(), Some(group.clone()));
    let replay = store.send(&outgoing("one", "k1")).await.unwrap();
    assert!(replay.replayed && replay.message == first.message);
    store.send(&outgoing("two", "k2")).await.unwrap();
    let page = store.feed(&alice.id, Seq::START, 10).await.unwrap();
    let positions: Vec<u64> = page.entries.iter().map(|(seq, _)| seq.0).collect();
    assert_eq!(positions, [1, 2]);
    assert_eq!(page.entries[0].1.decode().unwrap(), first.message);
}

/// The embedded store's ordering across members (see `runtime/src/store/mod.rs`): concurrent
/// group sends appear in the same relative order in every member's feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_member_sees_a_groups_messages_in_the_same_order() {
    use runtime::domain::message::Outgoing;
    use runtime::domain::{Group, Message, Name, Recipient, Seq, Text, User, UserId};

    let backend = Backend::embedded();
    let store = backend.store.clone();
    let mut members = Vec::new();
    for _ in 0..6 {
        let user = User { id: UserId::generate(), name: Name::parse("m").unwrap() };
        store.create_user(&user).await.unwrap();
        members.push(user.id);
    }
    let mut group = Group::new(Name::parse("g").unwrap(), members[0].clone());
    group.members = members.clone();
    store.create_group(&group).await.unwrap();
    let mut senders = Vec::new();
    for member in members.clone() {
        let (store, to) = (store.clone(), Recipient::Group(group.id.clone()));
        senders.push(tokio::spawn(async move {
            for i in 0..20 {
                let message = Message::new(member.clone(), to.clone(), Text::parse(format!("{i}")).unwrap());
                store.send(&Outgoing { message, client_id: None }).await.unwrap();
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let mut orders = Vec::new();
    for member in &members {
        let page = store.feed(member, Seq::START, 500).await.unwrap();
        orders.push(page.entries.iter().map(|(_, m)| m.decode().unwrap().id).collect::<Vec<_>>());
    }
    assert_eq!(orders[0].len(), 120);
    assert!(orders.iter().all(|order| order == &orders[0]), "members saw different orders");
}

#[tokio::test]
async fn feed_pages_stop_at_their_byte_bound() {
    messaging_tests::conformance::feed_pages_stop_at_their_byte_bound(&Backend::embedded()).await;
}
