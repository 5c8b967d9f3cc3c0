//! The store contract, checked through the trait only. Each case gets a fresh store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use runtime::domain::message::Outgoing;
use runtime::domain::{
    ClientId, ConversationId, FeedPage, Group, GroupId, Message, Name, Recipient, Rejection, Sent, Seq, Text, UserId,
};
use runtime::store::{MembershipChange, Store, StoreError, StoreResult};

use crate::Backend;
use crate::delivery::assert_exactly_once_in_order;
use crate::fixtures::user as register;

async fn new_group(store: &dyn Store, owner: &UserId, members: &[&UserId]) -> GroupId {
    let group = Group::new(Name::parse("team").unwrap(), owner.clone());
    store.create_group(&group).await.unwrap();
    for member in members {
        add(store, &group.id, owner, member, 1000).await.unwrap();
    }
    group.id
}

async fn add(store: &dyn Store, group: &GroupId, caller: &UserId, user: &UserId, max: usize) -> StoreResult<()> {
    let change = MembershipChange { group: group.clone(), caller: caller.clone(), user: user.clone() };
    store.add_member(&change, max).await.map(drop)
}

async fn remove(store: &dyn Store, group: &GroupId, caller: &UserId, user: &UserId) -> StoreResult<()> {
    let change = MembershipChange { group: group.clone(), caller: caller.clone(), user: user.clone() };
    store.remove_member(&change).await.map(drop)
}

async fn send(
    store: &dyn Store,
    from: &UserId,
    to: Recipient,
    text: &str,
    client_id: Option<&str>,
) -> StoreResult<Sent> {
    let message = Message::new(from.clone(), to, Text::parse(text.to_owned()).unwrap());
    let client_id = client_id.map(|id| ClientId::parse(id).unwrap());
    store.send(&Outgoing { message, client_id }).await
}

async fn direct(store: &dyn Store, from: &UserId, to: &UserId, text: &str) -> StoreResult<Sent> {
    send(store, from, Recipient::Direct(to.clone()), text, None).await
}

async fn to_group(store: &dyn Store, from: &UserId, group: &GroupId, text: &str) -> StoreResult<Sent> {
    send(store, from, Recipient::Group(group.clone()), text, None).await
}

/// The whole feed's messages (membership entries left out), read in pages, with a check that
/// positions are dense from 1.
async fn whole_feed(store: &dyn Store, user: &UserId) -> Vec<Message> {
    let mut after = Seq::START;
    let mut messages = Vec::new();
    loop {
        let page = store.feed(user, after, 500).await.unwrap();
        for (seq, message) in page.entries {
            assert_eq!(seq, after.next(), "feed positions must be dense");
            after = seq;
            if !message.is_membership() {
                messages.push(message.decode().expect("stored messages decode"));
            }
        }
        if !page.has_more {
            return messages;
        }
    }
}

fn texts(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

fn rejected(result: StoreResult<impl std::fmt::Debug>) -> Rejection {
    match result {
        Err(StoreError::Rejected(rejection)) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

pub async fn users_round_trip(backend: &Backend) {
    let store = &*backend.store;
    let alice = register(store, "alice").await;
    let user = store.user(&alice).await.unwrap().unwrap();
    assert_eq!((user.id, user.name.as_str()), (alice, "alice"));
    assert_eq!(store.user(&UserId::generate()).await.unwrap(), None);
    assert_eq!(store.user(&UserId::parse("nonexistent").unwrap()).await.unwrap(), None);
}

pub async fn blocks_are_idempotent_and_listed_in_id_order(backend: &Backend) {
    let store = &*backend.store;
    let alice = register(store, "alice").await;
    let bob = register(store, "bob").await;
    let mut others = vec![bob.clone(), register(store, "carol").await, register(store, "dave").await];
    for other in &others {
        store.block(&alice, other).await.unwrap();
        store.block(&alice, other).await.unwrap();
    }
    // Someone else's blocks never show up in alice's list.
    store.block(&bob, &alice).await.unwrap();
    others.sort();
    assert_eq!(store.blocked(&alice).await.unwrap(), others);
    assert_eq!(rejected(store.block(&alice, &UserId::generate()).await), Rejection::UnknownUser);
    store.unblock(&alice, &others[1]).await.unwrap();
    store.unblock(&alice, &others[1]).await.unwrap();
    store.unblock(&alice, &UserId::generate()).await.unwrap();
    assert_eq!(store.blocked(&alice).await.unwrap(), vec![others[0].clone(), others[2].clone()]);
    assert_eq!(store.blocked(&bob).await.unwrap(), vec![alice]);
}

pub async fn group_membership_follows_the_rules(backend: &Backend) {
    let store = &*backend.store;
    let [owner, bob, carol, dave] = [
        register(store, "owner").await,
        register(store, "bob").await,
        register(store, "carol").await,
        register(store, "dave").await,
    ];
    let group = new_group(store, &owner, &[]).await;
    let stored = store.group(&group).await.unwrap().unwrap();
    assert_eq!((stored.owner.clone(), stored.members.clone()), (owner.clone(), vec![owner.clone()]));
    assert_eq!(store.group(&GroupId::generate()).await.unwrap(), None);

    assert_eq!(rejected(add(store, &GroupId::generate(), &owner, &bob, 3).await), Rejection::UnknownGroup);
    assert_eq!(rejected(add(store, &group, &bob, &carol, 3).await), Rejection::NotMember);
    assert_eq!(rejected(add(store, &group, &bob, &UserId::generate(), 3).await), Rejection::NotMember);
    assert_eq!(rejected(add(store, &group, &owner, &UserId::generate(), 3).await), Rejection::UnknownUser);
    add(store, &group, &owner, &bob, 3).await.unwrap();
    // Any member may add.
    add(store, &group, &bob, &carol, 3).await.unwrap();
    assert_eq!(rejected(add(store, &group, &bob, &dave, 3).await), Rejection::GroupFull);
    // Re-adding is fine even when full.
    add(store, &group, &carol, &bob, 3).await.unwrap();
    assert_eq!(store.group(&group).await.unwrap().unwrap().members, vec![owner.clone(), bob.clone(), carol.clone()]);

    assert_eq!(rejected(remove(store, &group, &bob, &carol).await), Rejection::NotOwner);
    assert_eq!(rejected(remove(store, &group, &dave, &dave).await), Rejection::NotMember);
    assert_eq!(rejected(remove(store, &group, &owner, &dave).await), Rejection::TargetNotMember);
    assert_eq!(rejected(remove(store, &GroupId::generate(), &owner, &bob).await), Rejection::UnknownGroup);
    remove(store, &group, &carol, &carol).await.unwrap();
    remove(store, &group, &owner, &bob).await.unwrap();
    assert_eq!(store.group(&group).await.unwrap().unwrap().members, vec![owner.clone()]);
    assert_eq!(rejected(remove(store, &group, &owner, &bob).await), Rejection::TargetNotMember);
}

pub async fn owner_leaving_passes_ownership_and_empty_groups_stay_closed(backend: &Backend) {
    let store = &*backend.store;
    let [owner, bob, carol] =
        [register(store, "owner").await, register(store, "bob").await, register(store, "carol").await];
    let group = new_group(store, &owner, &[&bob, &carol]).await;
    remove(store, &group, &owner, &owner).await.unwrap();
    let after = store.group(&group).await.unwrap().unwrap();
    assert_eq!((after.owner, after.members), (bob.clone(), vec![bob.clone(), carol.clone()]));
    // The new owner may now remove others.
    remove(store, &group, &bob, &carol).await.unwrap();
    remove(store, &group, &bob, &bob).await.unwrap();
    assert!(store.group(&group).await.unwrap().unwrap().members.is_empty());
    assert_eq!(rejected(add(store, &group, &bob, &owner, 10).await), Rejection::NotMember);
    assert_eq!(rejected(to_group(store, &bob, &group, "anyone?").await), Rejection::NotMember);
}

pub async fn direct_messages_reach_both_feeds_and_self_messages_once(backend: &Backend) {
    let store = &*backend.store;
    let [alice, bob, carol] =
        [register(store, "alice").await, register(store, "bob").await, register(store, "carol").await];
    let sent = direct(store, &alice, &bob, "hi bob").await.unwrap();
    assert!(!sent.replayed);
    assert_eq!(sent.message.to, Recipient::Direct(bob.clone()));
    direct(store, &bob, &alice, "hi alice").await.unwrap();
    direct(store, &alice, &alice, "note to self").await.unwrap();
    assert_eq!(texts(&whole_feed(store, &alice).await), ["hi bob", "hi alice", "note to self"]);
    assert_eq!(texts(&whole_feed(store, &bob).await), ["hi bob", "hi alice"]);
    assert!(whole_feed(store, &carol).await.is_empty());
    let stored = &whole_feed(store, &bob).await[0];
    assert_eq!(stored, &sent.message, "the feed returns the message exactly as sent");
    assert_eq!(rejected(direct(store, &alice, &UserId::generate(), "anyone?").await), Rejection::UnknownUser);
}

pub async fn blocks_stop_direct_messages_but_not_group_messages(backend: &Backend) {
    let store = &*backend.store;
    let [alice, bob] = [register(store, "alice").await, register(store, "bob").await];
    let group = new_group(store, &alice, &[&bob]).await;
    store.block(&bob, &alice).await.unwrap();
    assert_eq!(rejected(direct(store, &alice, &bob, "let me in").await), Rejection::Blocked);
    // Blocking is directional.
    direct(store, &bob, &alice, "I can still write").await.unwrap();
    to_group(store, &alice, &group, "group still works").await.unwrap();
    assert_eq!(texts(&whole_feed(store, &bob).await), ["I can still write", "group still works"]);
    store.unblock(&bob, &alice).await.unwrap();
    direct(store, &alice, &bob, "thanks").await.unwrap();
    assert_eq!(whole_feed(store, &bob).await.len(), 3);
}

pub async fn group_messages_follow_membership_over_time(backend: &Backend) {
    let store = &*backend.store;
    let [alice, bob, carol] =
        [register(store, "alice").await, register(store, "bob").await, register(store, "carol").await];
    let group = new_group(store, &alice, &[&bob]).await;
    let sent = to_group(store, &alice, &group, "one").await.unwrap();
    assert_eq!(sent.message.to, Recipient::Group(group.clone()));
    assert_eq!(rejected(to_group(store, &carol, &group, "me too").await), Rejection::NotMember);
    assert_eq!(rejected(to_group(store, &alice, &GroupId::generate(), "where?").await), Rejection::UnknownGroup);
    add(store, &group, &bob, &carol, 10).await.unwrap();
    to_group(store, &carol, &group, "two").await.unwrap();
    remove(store, &group, &alice, &bob).await.unwrap();
    to_group(store, &alice, &group, "three").await.unwrap();
    assert_eq!(rejected(to_group(store, &bob, &group, "still here?").await), Rejection::NotMember);
    assert_eq!(texts(&whole_feed(store, &alice).await), ["one", "two", "three"]);
    assert_eq!(texts(&whole_feed(store, &bob).await), ["one", "two"], "a removed member keeps what they had");
    assert_eq!(texts(&whole_feed(store, &carol).await), ["two", "three"], "a new member gets only what follows");
}

pub async fn feed_pages_are_ordered_and_has_more_is_exact(backend: &Backend) {
    let store = &*backend.store;
    let [alice, bob] = [register(store, "alice").await, register(store, "bob").await];
    for i in 0..10 {
        direct(store, &alice, &bob, &format!("m{i}")).await.unwrap();
    }
    let first = store.feed(&bob, Seq::START, 4).await.unwrap();
    assert_eq!(first.entries.iter().map(|(s, _)| s.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(first.has_more);
    let second = store.feed(&bob, Seq(4), 6).await.unwrap();
    assert_eq!(
        texts(&second.entries.iter().map(|(_, m)| m.decode().unwrap()).collect::<Vec<_>>()),
        ["m4", "m5", "m6", "m7", "m8", "m9"]
    );
    assert!(!second.has_more, "a page that ends exactly at the end has no more");
    let empty = store.feed(&bob, Seq(10), 100).await.unwrap();
    assert!(empty.entries.is_empty() && !empty.has_more);
    let beyond = store.feed(&bob, Seq(1000), 100).await.unwrap();
    assert!(beyond.entries.is_empty() && !beyond.has_more);
    assert_eq!(store.feed(&bob, Seq(9), 1).await.unwrap().entries.len(), 1);
}

/// A page holds at most 1 MiB of messages whatever `limit` asks for, then says `has_more`;
/// paging on loses nothing. (Run on the embedded store: on DynamoDB, whose own `Query` page stops
/// at 1 MB of items first, 70 entries of 16 KB take the emulator minutes to write.)
pub async fn feed_pages_stop_at_their_byte_bound(backend: &Backend) {
    let store = &*backend.store;
    let [alice, bob] = [register(store, "alice").await, register(store, "bob").await];
    // 70 texts of the longest JSON a text can have (4,000 four-byte characters): 1.1 MB.
    let text = "😀".repeat(Text::MAX_CHARS);
    for _ in 0..70 {
        direct(store, &alice, &bob, &text).await.unwrap();
    }
    let first = store.feed(&bob, Seq::START, 500).await.unwrap();
    let bytes: usize = first.entries.iter().map(|(_, m)| m.as_bytes().len()).sum();
    assert!(first.has_more, "{} entries, {bytes} bytes", first.entries.len());
    assert!(bytes <= FeedPage::MAX_BYTES && first.entries.len() < 70, "{} entries, {bytes} bytes", first.entries.len());
    assert!(bytes + first.entries[0].1.as_bytes().len() > FeedPage::MAX_BYTES, "the page is full");
    let last = first.entries.last().unwrap().0;
    let second = store.feed(&bob, last, 500).await.unwrap();
    assert!(!second.has_more);
    let positions: Vec<u64> = first.entries.iter().chain(&second.entries).map(|(seq, _)| seq.0).collect();
    assert_eq!(positions, (1..=70).collect::<Vec<_>>(), "every entry once, in order");
}

pub async fn client_id_replays_and_conflicts(backend: &Backend) {
    let store = &*backend.store;
    let [alice, bob, carol] =
        [register(store, "alice").await, register(store, "bob").await, register(store, "carol").await];
    let group = new_group(store, &alice, &[&bob]).await;
    let first = send(store, &alice, Recipient::Direct(bob.clone()), "hello", Some("k1")).await.unwrap();
    let again = send(store, &alice, Recipient::Direct(bob.clone()), "hello", Some("k1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.message, first.message);
    assert_eq!(whole_feed(store, &bob).await.len(), 1, "a replay delivers nothing");

    let other_text = send(store, &alice, Recipient::Direct(bob.clone()), "hello!", Some("k1")).await;
    assert_eq!(rejected(other_text), Rejection::ClientIdConflict);
    let other_recipient = send(store, &alice, Recipient::Direct(carol.clone()), "hello", Some("k1")).await;
    assert_eq!(rejected(other_recipient), Rejection::ClientIdConflict);
    let to_group = send(store, &alice, Recipient::Group(group.clone()), "hello", Some("k1")).await;
    assert_eq!(rejected(to_group), Rejection::ClientIdConflict);

    // Scoped to the sender: bob may use the same key.
    let bobs = send(store, &bob, Recipient::Direct(alice.clone()), "hello", Some("k1")).await.unwrap();
    assert!(!bobs.replayed);

    // Already delivered: a replay after a block or a removal still returns the original.
    let in_group = send(store, &bob, Recipient::Group(group.clone()), "to all", Some("g1")).await.unwrap();
    store.block(&bob, &alice).await.unwrap();
    remove(store, &group, &alice, &bob).await.unwrap();
    let replay = send(store, &alice, Recipient::Direct(bob.clone()), "hello", Some("k1")).await.unwrap();
    assert!(replay.replayed && replay.message == first.message);
    let replay = send(store, &bob, Recipient::Group(group.clone()), "to all", Some("g1")).await.unwrap();
    assert!(replay.replayed && replay.message == in_group.message);
    assert_eq!(texts(&whole_feed(store, &alice).await), ["hello", "hello", "to all"]);
}

/// The core promise, attacked: many senders write concurrently into overlapping feeds while
/// pollers read those feeds with small pages, and pagers read a direct conversation's and the
/// group's history forward. Every poller must end up with exactly the feed: every delivered
/// message once, in the feed's order, and each sender's messages in the order that sender sent
/// them; every pager with exactly the conversation's messages, in number order; and each inbox's
/// unread counts with what a client counting its feed gets.
pub async fn cursor_invariant_holds_under_concurrent_senders_and_pollers(backend: &Backend) {
    cursor_invariant_attack(backend, 40).await;
}

/// The attack above with `sends_each` messages from each of its 16 senders. The pagers re-read
/// their conversation from its start on every pass, so its cost grows with the square of the
/// sends: on the emulator behind the chaos layer, 40 each took 136 s here and 20 took 50 s.
pub async fn cursor_invariant_attack(backend: &Backend, sends_each: usize) {
    const USERS: usize = 8;
    const SENDERS: usize = 16;
    let store = backend.store.clone();
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(register(&*store, &format!("user{i}")).await);
    }
    let group = new_group(&*store, &users[0], &users[1..USERS / 2].iter().collect::<Vec<_>>()).await;
    let users = Arc::new(users);
    let done = Arc::new(AtomicBool::new(false));

    let pollers: Vec<_> = users
        .iter()
        .cloned()
        .map(|user| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let mut after = Seq::START;
                let mut seen = Vec::new();
                loop {
                    // Read "done" before polling, so the last poll starts after every send ended.
                    let finished = done.load(Ordering::SeqCst);
                    let page = match store.feed(&user, after, 7).await {
                        Ok(page) => page,
                        // A store that gave up within its time budget: poll again, as clients do.
                        Err(StoreError::Unavailable(_)) => continue,
                        Err(other) => panic!("poll: {other:?}"),
                    };
                    for (seq, message) in &page.entries {
                        assert_eq!(*seq, after.next(), "a poller skipped or repeated a position");
                        after = *seq;
                        if !message.is_membership() {
                            seen.push(message.decode().unwrap().id);
                        }
                    }
                    if finished && !page.has_more {
                        return (user, seen);
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    // History pagers beside the pollers: a direct conversation and the group, paged forward.
    let paged = [ConversationId::Direct(users[1].clone()), ConversationId::Group(group.clone())];
    let pagers: Vec<_> = paged
        .iter()
        .map(|id| {
            let (store, user, id, done) = (store.clone(), users[0].clone(), id.clone(), done.clone());
            tokio::spawn(async move {
                let seen = crate::conversations::page_forward_while_sending(store, user, id.clone(), done).await;
                (id, seen)
            })
        })
        .collect();

    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (store, users, group) = (store.clone(), users.clone(), group.clone());
            tokio::spawn(async move {
                let from = users[s % USERS].clone();
                let mut sent = Vec::new();
                for i in 0..sends_each {
                    let to = if i % 3 == 0 && s % USERS < USERS / 2 {
                        Recipient::Group(group.clone())
                    } else {
                        Recipient::Direct(users[(s + i) % USERS].clone())
                    };
                    // As a client does: a send that failed with 503 is sent again with its
                    // client_id, and completes exactly once.
                    let key = format!("s{s}-{i}");
                    let mut attempts = 0;
                    let result = loop {
                        match send(&*store, &from, to.clone(), &key, Some(&key)).await {
                            Ok(sent) => break sent,
                            Err(StoreError::Unavailable(_)) if attempts < 20 => attempts += 1,
                            Err(other) => panic!("send {key}: {other:?}"),
                        }
                    };
                    sent.push(result.message);
                }
                sent
            })
        })
        .collect();

    let mut expected: HashMap<UserId, HashSet<String>> = HashMap::new();
    let mut per_sender_order = Vec::new();
    for sender in senders {
        let sent = sender.await.unwrap();
        for message in &sent {
            let feeds: Vec<UserId> = match &message.to {
                Recipient::Direct(to) => vec![message.from.clone(), to.clone()],
                Recipient::Group(_) => users[..USERS / 2].to_vec(),
            };
            for user in feeds {
                expected.entry(user).or_default().insert(message.id.to_string());
            }
        }
        per_sender_order.push(sent);
    }
    backend.settle();
    done.store(true, Ordering::SeqCst);
    let sent_ids: Vec<Vec<String>> =
        per_sender_order.iter().map(|sent| sent.iter().map(|m| m.id.to_string()).collect()).collect();

    let mut forward = Vec::new();
    for pager in pagers {
        forward.push(pager.await.unwrap());
    }
    for poller in pollers {
        let (user, seen) = poller.await.unwrap();
        let messages = whole_feed(&*store, &user).await;
        let theirs = if user == users[0] { &forward[..] } else { &[] };
        crate::conversations::history_and_unread_agree_with_the_feed(&*store, &user, &messages, theirs).await;
        let feed: Vec<String> = messages.iter().map(|m| m.id.to_string()).collect();
        let seen: Vec<String> = seen.iter().map(ToString::to_string).collect();
        let first_difference = seen.iter().zip(&feed).position(|(a, b)| a != b);
        assert_eq!(
            seen,
            feed,
            "the poller's view ({} entries) differs from the feed of {user} ({} entries), first at {first_difference:?}",
            seen.len(),
            feed.len()
        );
        let expected = expected.get(&user).cloned().unwrap_or_default();
        assert_exactly_once_in_order(&format!("the poller of {user}"), &seen, &expected, &sent_ids);
    }
}
