//! The conversations contract, checked through the store trait only: the inbox, history paging
//! both ways, read positions, membership entries, left groups, notes to self and blocks.

use std::time::Duration;

use runtime::domain::conversation::{Conversation, HistoryFrom, ReadOutcome};
use runtime::domain::{ConversationId, Group, GroupId, Message, Name, ReadMark, Recipient, Rejection, Seq, UserId};
use runtime::store::{MembershipChange, Store, StoreError};

use crate::Backend;
use crate::fixtures::{outgoing, user};

async fn send(store: &dyn Store, from: &UserId, to: Recipient, text: &str) -> Message {
    // Activity is ordered by `sent_at` in milliseconds: keep every send in a millisecond of its own.
    tokio::time::sleep(Duration::from_millis(3)).await;
    store.send(&outgoing(from, to, text, None)).await.unwrap().message
}

async fn dm(store: &dyn Store, from: &UserId, to: &UserId, text: &str) -> Message {
    send(store, from, Recipient::Direct(to.clone()), text).await
}

async fn new_group(store: &dyn Store, owner: &UserId, name: &str) -> GroupId {
    let group = Group::new(Name::parse(name).unwrap(), owner.clone());
    store.create_group(&group).await.unwrap();
    group.id
}

fn change(group: &GroupId, caller: &UserId, user: &UserId) -> MembershipChange {
    MembershipChange { group: group.clone(), caller: caller.clone(), user: user.clone() }
}

async fn inbox(store: &dyn Store, user: &UserId) -> Vec<Conversation> {
    store.inbox(user, None, 500).await.unwrap().conversations
}

/// Every message of a conversation, paging newest first `limit` at a time: (texts, pages).
async fn history_back(store: &dyn Store, user: &UserId, id: &ConversationId, limit: usize) -> (Vec<String>, usize) {
    let (mut texts, mut pages, mut from, mut vouched) = (Vec::new(), 0, HistoryFrom::Newest, None);
    loop {
        let page = store.history(user, id, from, vouched.as_ref(), limit).await.unwrap().expect("their conversation");
        pages += 1;
        assert!(page.messages.len() <= limit);
        texts.extend(page.messages.iter().map(|(_, json)| json.decode().unwrap().text.as_str().to_owned()));
        match page.next {
            Some(next) => (from, vouched) = (next, page.vouched),
            None => return (texts, pages),
        }
    }
}

fn rejection(error: StoreError) -> Rejection {
    match error {
        StoreError::Rejected(rejection) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn mark(message: &Message) -> ReadMark {
    ReadMark::of(&message.id).expect("delivered messages are numbered")
}

pub async fn the_inbox_orders_conversations_and_counts_unread(backend: &Backend) {
    let store = &*backend.store;
    let (alice, bob, carol) = (user(store, "alice").await, user(store, "bob").await, user(store, "carol").await);
    dm(store, &bob, &alice, "hi alice").await;
    dm(store, &bob, &alice, "are you there?").await;
    let group = new_group(store, &carol, "trip").await;
    store.add_member(&change(&group, &carol, &alice), 100).await.unwrap();
    dm(store, &carol, &alice, "added you").await;
    dm(store, &alice, &alice, "note to self").await;

    let all = inbox(store, &alice).await;
    let seen: Vec<(&str, &str, u64)> = all.iter().map(|c| (c.id.as_str(), c.name.as_str(), c.unread)).collect();
    assert_eq!(
        seen,
        [
            (alice.as_str(), "alice", 0), // own notes are never unread
            (carol.as_str(), "carol", 1),
            (group.as_str(), "trip", 0), // there as soon as she was added, before any message
            (bob.as_str(), "bob", 2),
        ]
    );
    assert!(all[2].last_message.is_none() && all[2].read_up_to.is_none());
    let last = all[3].last_message.as_ref().unwrap().decode().unwrap();
    assert_eq!((last.text.as_str(), all[3].id.kind()), ("are you there?", "direct"));
    assert!(all.windows(2).all(|w| w[0].updated_at >= w[1].updated_at));

    // Pages: two at a time, the cursor continuing where the last page ended.
    let first = store.inbox(&alice, None, 2).await.unwrap();
    let second = store.inbox(&alice, first.next.as_ref(), 2).await.unwrap();
    let paged: Vec<_> = first.conversations.iter().chain(&second.conversations).map(|c| c.id.clone()).collect();
    assert_eq!(paged, all.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
    assert!(second.next.is_none());

    // A reply moves the conversation up and reads it for the sender.
    dm(store, &alice, &bob, "yes").await;
    let top = &inbox(store, &alice).await[0];
    assert_eq!((top.id.as_str(), top.unread), (bob.as_str(), 0));
    let bobs = inbox(store, &bob).await;
    assert_eq!((bobs.len(), bobs[0].unread, bobs[0].name.as_str()), (1, 1, "alice"));
}

pub async fn history_pages_both_ways_without_skipping_or_repeating(backend: &Backend) {
    let store = &*backend.store;
    let (alice, bob, carol) = (user(store, "alice").await, user(store, "bob").await, user(store, "carol").await);
    let mut sent = Vec::new();
    for i in 0..7 {
        let (from, to) = if i % 2 == 0 { (&alice, &bob) } else { (&bob, &alice) };
        sent.push(dm(store, from, to, &format!("m{i}")).await);
        dm(store, &carol, &alice, "elsewhere").await; // another conversation in the same feeds
    }
    let with_bob = ConversationId::Direct(bob.clone());
    let (texts, pages) = history_back(store, &alice, &with_bob, 3).await;
    assert_eq!((texts, pages), (["m6", "m5", "m4", "m3", "m2", "m1", "m0"].map(String::from).to_vec(), 3));
    // Bob sees the same conversation under Alice's id.
    let (texts, _) = history_back(store, &bob, &ConversationId::Direct(alice.clone()), 100).await;
    assert_eq!(texts.len(), 7);

    // Forward from a message, oldest first; `next` continues forward and stays put at the end.
    let mut from = HistoryFrom::After(mark(&sent[1]).number);
    let mut forward = Vec::new();
    for _ in 0..4 {
        let page = store.history(&alice, &with_bob, from, None, 2).await.unwrap().unwrap();
        forward.extend(page.messages.iter().map(|(_, json)| json.decode().unwrap().text.as_str().to_owned()));
        from = page.next.expect("going forward there is always a next");
    }
    assert_eq!(forward, ["m2", "m3", "m4", "m5", "m6"]);
    assert_eq!(from, HistoryFrom::After(mark(&sent[6]).number));
    let later = dm(store, &bob, &alice, "m7").await;
    let page = store.history(&alice, &with_bob, from, None, 2).await.unwrap().unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].1.decode().unwrap(), later);

    // Before a message, newest first.
    let page =
        store.history(&alice, &with_bob, HistoryFrom::Before(mark(&sent[2]).number), None, 5).await.unwrap().unwrap();
    let texts: Vec<_> = page.messages.iter().map(|(_, j)| j.decode().unwrap().text.as_str().to_owned()).collect();
    assert_eq!((texts, page.next), (vec!["m1".to_owned(), "m0".to_owned()], None));
    // Nobody else's conversation.
    assert!(store.history(&carol, &with_bob, HistoryFrom::Newest, None, 5).await.unwrap().is_none());
}

pub async fn read_positions_only_move_forward_and_every_device_sees_them(backend: &Backend) {
    let store = &*backend.store;
    let (alice, bob) = (user(store, "alice").await, user(store, "bob").await);
    let messages =
        [dm(store, &bob, &alice, "1").await, dm(store, &bob, &alice, "2").await, dm(store, &bob, &alice, "3").await];
    let with_bob = ConversationId::Direct(bob.clone());
    assert_eq!(store.mark_read(&alice, &with_bob, &mark(&messages[1])).await.unwrap(), ReadOutcome::Moved);
    // Another device, behind: nothing moves back.
    assert_eq!(store.mark_read(&alice, &with_bob, &mark(&messages[0])).await.unwrap(), ReadOutcome::Unchanged);
    assert_eq!(store.mark_read(&alice, &with_bob, &mark(&messages[1])).await.unwrap(), ReadOutcome::Unchanged);
    let seen = &inbox(store, &alice).await[0];
    assert_eq!((seen.unread, seen.read_up_to.as_ref()), (1, Some(&messages[1].id)));

    // Read receipts: both sides of the conversation.
    let detail = store.conversation(&bob, &ConversationId::Direct(alice.clone())).await.unwrap();
    let receipts: Vec<_> = detail.members.iter().map(|r| (r.user.clone(), r.read_up_to.clone())).collect();
    assert!(receipts.contains(&(alice.clone(), Some(messages[1].id.clone()))), "{receipts:?}");
    assert!(receipts.contains(&(bob.clone(), Some(messages[2].id.clone()))), "own sends are read: {receipts:?}");

    // In a group too: each member's own newest message is where they have read up to, until a
    // read mark takes them further; a mark behind it changes nothing anyone sees.
    let group = new_group(store, &alice, "receipts").await;
    store.add_member(&change(&group, &alice, &bob), 100).await.unwrap();
    let to_group = || Recipient::Group(group.clone());
    let sent = [
        send(store, &alice, to_group(), "g1").await,
        send(store, &bob, to_group(), "g2").await,
        send(store, &alice, to_group(), "g3").await,
    ];
    let in_group = ConversationId::Group(group.clone());
    let receipts = |detail: runtime::domain::conversation::ConversationDetail| {
        detail.members.into_iter().map(|r| (r.user, r.read_up_to)).collect::<Vec<_>>()
    };
    let seen = receipts(store.conversation(&alice, &in_group).await.unwrap());
    assert_eq!(seen, [(alice.clone(), Some(sent[2].id.clone())), (bob.clone(), Some(sent[1].id.clone()))]);
    store.mark_read(&bob, &in_group, &mark(&sent[0])).await.unwrap();
    let bobs = inbox(store, &bob).await;
    let bobs = bobs.iter().find(|c| c.id == in_group).unwrap();
    assert_eq!((bobs.unread, bobs.read_up_to.as_ref()), (1, Some(&sent[1].id)));
    assert_eq!(store.mark_read(&bob, &in_group, &mark(&sent[2])).await.unwrap(), ReadOutcome::Moved);
    let seen = receipts(store.conversation(&bob, &in_group).await.unwrap());
    assert_eq!(seen[1], (bob.clone(), Some(sent[2].id.clone())));
    assert_eq!(inbox(store, &bob).await.iter().find(|c| c.id == in_group).unwrap().unread, 0);

    // A message of another conversation, or one that does not exist, is not a read position here.
    let carol = user(store, "carol").await;
    let elsewhere = dm(store, &carol, &alice, "x").await;
    let refused = store.mark_read(&alice, &with_bob, &mark(&elsewhere)).await.unwrap_err();
    assert_eq!(rejection(refused), Rejection::UnknownMessage);
    let forged = ReadMark::of(&messages[0].id.numbered(runtime::domain::Number(2))).unwrap();
    assert_eq!(rejection(store.mark_read(&alice, &with_bob, &forged).await.unwrap_err()), Rejection::UnknownMessage);
    let strangers = ConversationId::Direct(user(store, "dave").await);
    let refused = store.mark_read(&alice, &strangers, &mark(&messages[2])).await.unwrap_err();
    assert_eq!(rejection(refused), Rejection::UnknownConversation);
    assert_eq!(rejection(store.conversation(&alice, &strangers).await.unwrap_err()), Rejection::UnknownConversation);
}

/// Entries of `user`'s feed: membership entries as ("membership", change), messages by text.
async fn feed_entries(store: &dyn Store, user: &UserId) -> Vec<String> {
    let page = store.feed(user, Seq::START, 500).await.unwrap();
    page.entries
        .iter()
        .map(|(_, entry)| {
            if entry.is_membership() {
                let value: serde_json::Value = serde_json::from_slice(entry.as_bytes()).unwrap();
                format!("membership:{}", value["change"].as_str().unwrap())
            } else {
                entry.decode().unwrap().text.as_str().to_owned()
            }
        })
        .collect()
}

pub async fn membership_reaches_the_feed_and_left_groups_keep_what_was_received(backend: &Backend) {
    let store = &*backend.store;
    let (owner, alice) = (user(store, "owner").await, user(store, "alice").await);
    let group = new_group(store, &owner, "club").await;
    let to_group = || Recipient::Group(group.clone());
    send(store, &owner, to_group(), "before alice").await;
    let added = store.add_member(&change(&group, &owner, &alice), 100).await.unwrap();
    // Already a member: nothing appended, nothing to push.
    assert!(store.add_member(&change(&group, &owner, &alice), 100).await.unwrap().is_none());
    send(store, &owner, to_group(), "welcome").await;
    send(store, &alice, to_group(), "thanks").await;
    let removed = store.remove_member(&change(&group, &owner, &alice)).await.unwrap();
    send(store, &owner, to_group(), "while away").await;
    assert_eq!(feed_entries(store, &alice).await, ["membership:added", "welcome", "thanks", "membership:removed"]);
    // What the store says it appended (what a push sends) is the feed's entry at that position.
    for appended in [added, removed] {
        let appended = appended.expect("a membership entry was appended");
        let at = store.feed(&alice, runtime::domain::Seq(appended.seq.0 - 1), 1).await.unwrap();
        assert_eq!(appended.user, alice);
        assert_eq!(at.entries[0].0, appended.seq);
        assert_eq!(at.entries[0].1.as_bytes(), appended.entry.as_bytes());
    }

    // The group stays in her inbox with what she received; its history holds only that.
    let id = ConversationId::Group(group.clone());
    let left = inbox(store, &alice).await;
    let last = left[0].last_message.as_ref().unwrap().decode().unwrap();
    assert_eq!((left.len(), last.text.as_str(), left[0].unread), (1, "thanks", 0));
    assert_eq!(history_back(store, &alice, &id, 1).await.0, ["thanks", "welcome"]);
    assert_eq!(rejection(store.conversation(&alice, &id).await.unwrap_err()), Rejection::NotMember);

    // Back in: what was sent while she was away stays hidden.
    store.add_member(&change(&group, &owner, &alice), 100).await.unwrap();
    send(store, &owner, to_group(), "back").await;
    assert_eq!(history_back(store, &alice, &id, 2).await.0, ["back", "thanks", "welcome"]);
    let forward =
        store.history(&alice, &id, HistoryFrom::After(runtime::domain::Number(0)), None, 10).await.unwrap().unwrap();
    let texts: Vec<_> = forward.messages.iter().map(|(_, j)| j.decode().unwrap().text.as_str().to_owned()).collect();
    assert_eq!(texts, ["welcome", "thanks", "back"]);
    assert_eq!(inbox(store, &alice).await[0].unread, 1);
    let detail = store.conversation(&alice, &id).await.unwrap();
    assert_eq!(detail.members.len(), 2);
    assert_eq!(history_back(store, &owner, &id, 10).await.0.len(), 5);
}

pub async fn notes_to_self_and_blocked_senders(backend: &Backend) {
    let store = &*backend.store;
    let (alice, mallory) = (user(store, "alice").await, user(store, "mallory").await);
    dm(store, &alice, &alice, "remember the milk").await;
    let own = ConversationId::Direct(alice.clone());
    let (texts, _) = history_back(store, &alice, &own, 10).await;
    assert_eq!(texts, ["remember the milk"]);
    let detail = store.conversation(&alice, &own).await.unwrap();
    assert_eq!((detail.members.len(), detail.conversation.unread), (1, 0));

    store.block(&alice, &mallory).await.unwrap();
    let refused = store.send(&outgoing(&mallory, Recipient::Direct(alice.clone()), "hey", None)).await.unwrap_err();
    assert_eq!(rejection(refused), Rejection::Blocked);
    assert_eq!(inbox(store, &alice).await.len(), 1, "a blocked sender's messages make no conversation");
    assert!(inbox(store, &mallory).await.is_empty());
    let theirs = ConversationId::Direct(mallory.clone());
    assert!(store.history(&alice, &theirs, HistoryFrom::Newest, None, 10).await.unwrap().is_none());
}

pub async fn a_rename_reaches_every_conversation(backend: &Backend) {
    use runtime::domain::AppUserId;
    let store = &*backend.store;
    let app = AppUserId::parse("auth0|renamed").unwrap();
    let ada = store.upsert_app_user(&app, &Name::parse("Ada").unwrap(), &UserId::generate()).await.unwrap().id;
    let (bob, carol) = (user(store, "bob").await, user(store, "carol").await);
    dm(store, &ada, &bob, "hi bob").await;
    dm(store, &carol, &ada, "hi ada").await;
    dm(store, &ada, &ada, "a note").await;
    let named = |all: Vec<Conversation>, id: &UserId| {
        all.into_iter().find(|c| c.id.as_str() == id.as_str()).expect("the conversation").name.as_str().to_owned()
    };
    assert_eq!(named(inbox(store, &bob).await, &ada), "Ada");

    store.upsert_app_user(&app, &Name::parse("Ada Lovelace").unwrap(), &UserId::generate()).await.unwrap();
    assert_eq!(named(inbox(store, &bob).await, &ada), "Ada Lovelace", "whoever sent first");
    assert_eq!(named(inbox(store, &carol).await, &ada), "Ada Lovelace", "whoever received first");
    assert_eq!(named(inbox(store, &ada).await, &ada), "Ada Lovelace", "notes to self");
    assert_eq!(named(inbox(store, &ada).await, &bob), "bob", "the peer's name is theirs");
    let detail = store.conversation(&bob, &ConversationId::Direct(ada.clone())).await.unwrap();
    assert_eq!(detail.conversation.name.as_str(), "Ada Lovelace");
}

/// Every message of `user`'s feed (membership entries left out), oldest first.
pub async fn feed_messages(store: &dyn Store, user: &UserId) -> Vec<Message> {
    let (mut after, mut messages) = (Seq::START, Vec::new());
    loop {
        let page = store.feed(user, after, 500).await.unwrap();
        for (seq, entry) in &page.entries {
            after = *seq;
            if !entry.is_membership() {
                messages.push(entry.decode().unwrap());
            }
        }
        if !page.has_more {
            return messages;
        }
    }
}

/// Pages `user`'s history of `id` forward from its start, a few messages at a time, again and
/// again while senders write, until `done` is set and a last pass has run: each pass, the ids it
/// read in order (the last pass read everything).
pub async fn page_forward_while_sending(
    store: std::sync::Arc<dyn Store>,
    user: UserId,
    id: ConversationId,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<Vec<String>> {
    let mut passes = Vec::new();
    loop {
        let finished = done.load(std::sync::atomic::Ordering::SeqCst);
        let (mut from, mut vouched) = (HistoryFrom::After(runtime::domain::Number(0)), None);
        let mut seen = Vec::new();
        loop {
            let page = match store.history(&user, &id, from, vouched.as_ref(), 5).await {
                Ok(Some(page)) => page,
                Ok(None) => break, // no message yet
                Err(StoreError::Unavailable(_)) => continue,
                Err(other) => panic!("history: {other:?}"),
            };
            seen.extend(page.messages.iter().map(|(_, json)| json.decode().unwrap().id.to_string()));
            from = page.next.expect("going forward there is always a next");
            vouched = page.vouched;
            if page.messages.is_empty() {
                break;
            }
            // Gently: the emulator answers every test's requests one at a time.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        passes.push(seen);
        if finished {
            return passes;
        }
    }
}

/// Once every send has ended: each conversation's history, paged back, holds exactly the
/// messages of `user`'s feed in that conversation, in number order; every pass a forward pager
/// made while the senders wrote (`forward`, by conversation) read a prefix of it, and its last
/// pass all of it; and the inbox's `unread` is what a client counting its feed past its read
/// position gets.
pub async fn history_and_unread_agree_with_the_feed(
    store: &dyn Store,
    user: &UserId,
    feed: &[Message],
    forward: &[(ConversationId, Vec<Vec<String>>)],
) {
    let mut by_conversation: std::collections::HashMap<ConversationId, Vec<(u64, String)>> = Default::default();
    for message in feed {
        let id = ConversationId::of_message(user, &message.from, &message.to);
        let number = message.id.number().expect("numbered").0;
        by_conversation.entry(id).or_default().push((number, message.id.to_string()));
    }
    for conversation in store.inbox(user, None, 500).await.unwrap().conversations {
        let mut expected = by_conversation.remove(&conversation.id).unwrap_or_default();
        expected.sort();
        let read = conversation.read_up_to.as_ref().and_then(|id| id.number()).map_or(0, |n| n.0);
        let counted = expected.iter().filter(|(number, _)| *number > read).count() as u64;
        assert_eq!(conversation.unread, counted, "{user}: unread in {:?}", conversation.id);
        let mut oldest_first = Vec::new();
        let (mut from, mut vouched) = (HistoryFrom::Newest, None);
        loop {
            let page = store.history(user, &conversation.id, from, vouched.as_ref(), 7).await.unwrap().unwrap();
            oldest_first.extend(page.messages.iter().map(|(_, json)| json.decode().unwrap().id.to_string()));
            match page.next {
                Some(next) => (from, vouched) = (next, page.vouched),
                None => break,
            }
        }
        oldest_first.reverse();
        let ids: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
        assert_eq!(oldest_first, ids, "{user}: history of {:?}", conversation.id);
        for (id, passes) in forward.iter().filter(|(id, _)| *id == conversation.id) {
            for seen in passes {
                // Each pass read a prefix of the history: nothing skipped, nothing twice.
                assert_eq!(seen[..], ids[..seen.len().min(ids.len())], "{user}: a pass forward through {id:?}");
            }
            assert_eq!(passes.last(), Some(&ids), "{user}: the last pass through {id:?}");
        }
    }
    assert!(by_conversation.is_empty(), "{user}: conversations missing from the inbox: {:?}", by_conversation.keys());
}
