//! The DynamoDB store under DynamoDB's real concurrency, through the chaos layer
//! (`tests/src/chaos.rs`): each test reproduces one way real DynamoDB differs from a serialised
//! emulator, deterministically where the defect needs a precise interleaving.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use messaging_tests::Backend;
use messaging_tests::backend::{
    EMULATOR_OPERATION_BUDGET, chaos_emulator_endpoint, emulator_client, fresh_tables, production_client,
};
use messaging_tests::chaos::{Chaos, Effect, Rule};
use messaging_tests::fixtures::{self, group};
use runtime::domain::message::Outgoing;
use runtime::domain::{GroupId, MessageId, Name, Recipient, Rejection, Seq, User, UserId};
use runtime::store::dynamodb::{CHUNK, DynamoOptions, DynamoStore, retry, schema};
use runtime::store::{MembershipChange, Store, StoreError};

const TRANSACT: &str = "TransactWriteItems";
/// Longer than any test: a request held this long never completes.
const HANG: Duration = Duration::from_secs(3600);

/// Fresh tables on the emulator, and a store on them through each of `paths` (the store's own
/// client settings and `budget`), plus one straight to the emulator for checking. Tests that are
/// not about the budget give the emulator's: it serialises every test's requests.
async fn stores(paths: &[&Chaos], budget: Duration) -> Option<(DynamoStore, Vec<DynamoStore>)> {
    let endpoint = chaos_emulator_endpoint()?;
    let tables = DynamoOptions { operation_budget: budget, ..fresh_tables() };
    schema::create_tables(&emulator_client(&endpoint), &tables).await.unwrap();
    let through = paths.iter().map(|chaos| DynamoStore::new(production_client(&chaos.url), tables.clone())).collect();
    Some((DynamoStore::new(emulator_client(&endpoint), unhurried(tables)), through))
}

fn unhurried(tables: DynamoOptions) -> DynamoOptions {
    DynamoOptions { operation_budget: EMULATOR_OPERATION_BUDGET, ..tables }
}

async fn user(store: &dyn Store) -> UserId {
    fixtures::user(store, "u").await
}

fn to_group(from: &UserId, group: &GroupId, text: &str, client_id: Option<&str>) -> Outgoing {
    fixtures::outgoing(from, Recipient::Group(group.clone()), text, client_id)
}

/// How many times each message is in each member's feed, by its id before the store numbered it
/// (what the sender's `Outgoing` holds).
async fn deliveries(store: &dyn Store, members: &[UserId]) -> Vec<HashMap<MessageId, usize>> {
    let mut all = Vec::new();
    for member in members {
        let mut counts = HashMap::new();
        let mut after = Seq::START;
        loop {
            let page = store.feed(member, after, 500).await.unwrap();
            for (seq, json) in &page.entries {
                after = *seq;
                if json.is_membership() {
                    continue;
                }
                *counts.entry(json.decode().unwrap().id.unnumbered()).or_insert(0) += 1;
            }
            if !page.has_more {
                break;
            }
        }
        all.push(counts);
    }
    all
}

#[track_caller]
fn assert_everyone_once(feeds: &[HashMap<MessageId, usize>], message: &MessageId) {
    let counts: Vec<usize> = feeds.iter().map(|f| f.get(&message.unnumbered()).copied().unwrap_or(0)).collect();
    assert!(counts.iter().all(|&c| c == 1), "{message} delivered per member: {counts:?}");
}

/// Defect 1: a client's retry races the original, which is still delivering, commits a chunk
/// just before the retry does, then dies. The retry must not answer success on seeing that
/// someone else moved the send on: it carries on until every chunk is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_racing_a_live_original_answers_only_once_every_member_has_the_message() {
    let Some(endpoint) = chaos_emulator_endpoint() else { return };
    let (original_path, retry_path) = (Chaos::start(&endpoint, 1).await, Chaos::start(&endpoint, 2).await);
    let (check, through) = stores(&[&original_path, &retry_path], EMULATOR_OPERATION_BUDGET).await.unwrap();
    let [original, retry] = <[DynamoStore; 2]>::try_from(through).ok().unwrap();
    let group = group(&check, 2 * CHUNK + 24).await;
    let send = to_group(&group.owner, &group.id, "raced", Some("raced"));

    // The original: chunk 0 at once, chunk 1 held for 400 ms, then it hangs on chunk 2 until
    // it is killed (a Lambda timing out).
    original_path.add(Rule::nth(TRANSACT, 1, Effect::Delay(Duration::from_millis(400))));
    original_path.add(Rule::after(TRANSACT, 2, Effect::Delay(HANG)));
    // The retry's first transaction (its chunk 1) lands after the original's chunk 1.
    retry_path.add(Rule::nth(TRANSACT, 0, Effect::Delay(Duration::from_millis(900))));
    let original = Arc::new(original);
    let running = {
        let (original, send) = (original.clone(), send.clone());
        tokio::spawn(async move { original.send(&send).await })
    };
    while original_path.seen(TRANSACT) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let retried = retry.send(&send).await.expect("the retry delivers what the original left");
    assert!(retried.replayed);
    assert!(original_path.seen(TRANSACT) >= 3 && !running.is_finished(), "the original is stuck after chunk 1");
    running.abort();
    assert_everyone_once(&deliveries(&check, &group.members).await, &send.message.id);
}

/// Defect 2: blocks and unblocks are single-item writes on items that sends condition-check
/// inside their transactions; DynamoDB refuses them with `TransactionConflictException` while
/// such a transaction holds the item, and cancels a membership change's transaction on the group
/// a send holds. They retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_item_writes_ride_out_transaction_conflicts() {
    let Some(endpoint) = chaos_emulator_endpoint() else { return };
    let chaos = Chaos::start(&endpoint, 3).await;
    let (check, through) = stores(&[&chaos], EMULATOR_OPERATION_BUDGET).await.unwrap();
    let store = &through[0];
    let group = group(&check, 3).await;
    let (owner, spammer) = (group.owner.clone(), group.members[2].clone());

    // A membership change is a transaction of its own: a conflict cancels it, and it goes again.
    chaos.add(Rule::first(TRANSACT, 3, Effect::CancelTransaction("TransactionConflict")));
    let change = MembershipChange { group: group.id.clone(), caller: owner.clone(), user: spammer.clone() };
    store.remove_member(&change).await.expect("the owner removes the spammer");
    chaos.add(Rule::first("PutItem", 3, Effect::WriteConflict));
    store.block(&owner, &spammer).await.expect("block");
    chaos.add(Rule::first("DeleteItem", 3, Effect::WriteConflict));
    store.unblock(&owner, &spammer).await.expect("unblock");
    assert_eq!(chaos.injected().get("WriteConflict"), Some(&6));
    assert_eq!(chaos.injected().get("CancelTransaction(\"TransactionConflict\")"), Some(&3));
    assert!(!check.group(&group.id).await.unwrap().unwrap().is_member(&spammer));
    assert!(check.blocked(&owner).await.unwrap().is_empty());
}

/// A conditional write that landed but whose answer was lost is retried; the retry finds the
/// item already written — by itself, not by a competitor — and answers success: not
/// `member_not_found` for a member it has just removed, nor 503 for a user it has just created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conditional_write_whose_answer_was_lost_still_succeeds() {
    let Some(endpoint) = chaos_emulator_endpoint() else { return };
    let chaos = Chaos::start(&endpoint, 7).await;
    let (check, through) = stores(&[&chaos], Duration::from_secs(6)).await.unwrap();
    let group = group(&check, 3).await;
    let (owner, leaving) = (group.owner.clone(), group.members[2].clone());

    // A membership change's transaction: its retry carries the same token, which DynamoDB answers
    // with the outcome of the attempt that landed.
    chaos.add(Rule::first(TRANSACT, 1, Effect::AppliedButLost));
    let change = MembershipChange { group: group.id.clone(), caller: owner, user: leaving.clone() };
    through[0].remove_member(&change).await.expect("the removal that landed answers success");
    assert!(!check.group(&group.id).await.unwrap().unwrap().is_member(&leaving));

    // The same for a new user: not a 503 for an id collision with itself.
    chaos.add(Rule::first("PutItem", 1, Effect::AppliedButLost));
    let newcomer = User { id: UserId::generate(), name: Name::parse("new").unwrap() };
    through[0].create_user(&newcomer).await.expect("the creation that landed answers success");
    assert_eq!(check.user(&newcomer.id).await.unwrap(), Some(newcomer));
    assert_eq!(chaos.injected().get("AppliedButLost"), Some(&2));
}

/// Defect 3: the recipients record of client id `x` and the send record of client id `x#to`
/// must not share a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_never_share_a_record_key() {
    let Some(backend) = Backend::dynamodb().await else { return };
    let store = &*backend.store;
    let group = group(store, CHUNK + 2).await;
    let first = to_group(&group.owner, &group.id, "one", Some("x"));
    let second = to_group(&group.owner, &group.id, "two", Some("x#to"));
    let sent_first = store.send(&first).await.unwrap();
    let sent_second = store.send(&second).await.expect("a client id ending in #to is its own");
    assert!(!sent_first.replayed && !sent_second.replayed);
    for (send, sent) in [(&first, &sent_first), (&second, &sent_second)] {
        let replay = store.send(send).await.unwrap();
        assert!(replay.replayed && replay.message == sent.message);
    }
    let feeds = deliveries(store, &group.members).await;
    assert_everyone_once(&feeds, &first.message.id);
    assert_everyone_once(&feeds, &second.message.id);
}

/// Defect 6: a group send of three transactions whose caller dies after chunk `k`, for every
/// `k`, with and without a `client_id`: every member ends up with the message exactly once —
/// by the client's retry with its `client_id`, and without one by the next send to the group —
/// and their inbox and the group's history agree with their feed: the first chunk's at once,
/// everyone's once the send is finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_send_killed_after_any_chunk_reaches_every_member_exactly_once() {
    let Some(endpoint) = chaos_emulator_endpoint() else { return };
    let chaos = Chaos::start(&endpoint, 4).await;
    let (check, through) = stores(&[&chaos], EMULATOR_OPERATION_BUDGET).await.unwrap();
    let store = &through[0];
    for committed in 1..3u64 {
        for client_id in [Some("killed"), None] {
            let group = group(&check, 2 * CHUNK + 24).await;
            // Members who joined through a membership change (the fixture writes the group's
            // members straight into its item): re-added, they are the last chunk's, which an
            // interrupted send reaches last.
            let watched =
                [group.members[1].clone(), group.members[CHUNK].clone(), group.members.last().unwrap().clone()];
            for member in &watched {
                let change =
                    MembershipChange { group: group.id.clone(), caller: group.owner.clone(), user: member.clone() };
                check.remove_member(&change).await.unwrap();
                check.add_member(&change, usize::MAX).await.unwrap();
            }
            let group = check.group(&group.id).await.unwrap().unwrap();
            let send = to_group(&group.owner, &group.id, "killed", client_id);
            // The first `committed` transactions go through (a retry of one that timed out is
            // answered by its token, not counted again); the caller stops at the next one, with
            // the send partial, as a Lambda that times out would leave it.
            chaos.add(Rule::after(TRANSACT, committed, Effect::Refuse));
            assert!(store.send(&send).await.is_err(), "the send died after {committed} chunk(s)");
            chaos.calm();
            let before = deliveries(&check, &group.members).await;

            let reached = before.iter().filter(|f| f.contains_key(&send.message.id)).count();
            assert_eq!(reached, CHUNK * committed as usize, "partial before the recovery");
            // The first chunk's members have it, and their inbox and history say so.
            let owner_feed = messaging_tests::conversations::feed_messages(&check, &group.owner).await;
            messaging_tests::conversations::history_and_unread_agree_with_the_feed(
                &check,
                &group.owner,
                &owner_feed,
                &[],
            )
            .await;

            let next = to_group(&group.members[1], &group.id, "next", None);
            match client_id {
                Some(_) => assert!(check.send(&send).await.unwrap().replayed),
                None => assert!(!check.send(&next).await.unwrap().replayed),
            }
            let feeds = deliveries(&check, &group.members).await;
            assert_everyone_once(&feeds, &send.message.id);
            if client_id.is_none() {
                assert_everyone_once(&feeds, &next.message.id);
            }
            // Inbox and history agree with the feed, for the last chunk's members and the owner.
            for member in watched.iter().chain([&group.owner]) {
                let feed = messaging_tests::conversations::feed_messages(&check, member).await;
                messaging_tests::conversations::history_and_unread_agree_with_the_feed(&check, member, &feed, &[])
                    .await;
            }
        }
    }
}

/// Defect 5: under sustained injected conflicts and throttling, every send and membership
/// change ends within its time budget, with success or a retryable 503 — and never leaves a
/// message lost or half-delivered: each ends up with every member or (a send without
/// `client_id` that failed) with every member once the group's next send has run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_sustained_contention_everything_ends_within_its_budget_and_nothing_is_half_delivered() {
    const BUDGET: Duration = Duration::from_secs(5);
    let Some(endpoint) = chaos_emulator_endpoint() else { return };
    let chaos = Chaos::start(&endpoint, 5).await;
    let (check, through) = stores(&[&chaos], BUDGET).await.unwrap();
    let store = Arc::new(through.into_iter().next().unwrap());
    let group = group(&check, CHUNK + 12).await;
    let spare = user(&check).await;

    chaos.add(Rule::sometimes(Some(TRANSACT), 0.6, Effect::CancelTransaction("TransactionConflict")));
    chaos.add(Rule::sometimes(Some(TRANSACT), 0.1, Effect::CancelTransaction("ThrottlingError")));
    chaos.add(Rule::sometimes(Some("PutItem"), 0.6, Effect::WriteConflict));
    chaos.add(Rule::sometimes(None, 0.05, Effect::Throttle));

    let mut tasks = Vec::new();
    for sender in 0..6 {
        let (store, group) = (store.clone(), group.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..4 {
                let client_id = (sender % 2 == 0).then(|| format!("{sender}-{i}"));
                let send = to_group(&group.members[sender], &group.id, "busy", client_id.as_deref());
                let started = Instant::now();
                let result = store.send(&send).await;
                outcomes.push((send, started.elapsed(), result.map(|_| ())));
            }
            outcomes
        }));
    }
    let changes = {
        let (store, group) = (store.clone(), group.clone());
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..8 {
                let change =
                    MembershipChange { group: group.id.clone(), caller: group.owner.clone(), user: spare.clone() };
                let started = Instant::now();
                let result =
                    if i % 2 == 0 { store.add_member(&change, 1000).await } else { store.remove_member(&change).await };
                outcomes.push((started.elapsed(), result));
            }
            outcomes
        })
    };
    let mut sends = Vec::new();
    for task in tasks {
        sends.extend(task.await.unwrap());
    }
    let changes = changes.await.unwrap();
    chaos.calm();

    // Within the budget, plus one attempt that was under way when it ran out.
    let limit = BUDGET + retry::ATTEMPT_TIMEOUT;
    let mut unavailable = 0;
    for (elapsed, result) in
        sends.iter().map(|(_, e, r)| (e, r.as_ref().err())).chain(changes.iter().map(|(e, r)| (e, r.as_ref().err())))
    {
        assert!(*elapsed <= limit, "an operation took {elapsed:?}");
        match result {
            None => {}
            Some(StoreError::Unavailable(_)) => unavailable += 1,
            // Removing the spare is refused only when the add before it ran out of budget.
            Some(StoreError::Rejected(Rejection::TargetNotMember)) => {}
            Some(other) => panic!("not a retryable failure: {other:?}"),
        }
    }
    for pair in changes.chunks(2) {
        if let Err(StoreError::Rejected(Rejection::TargetNotMember)) = pair[1].1 {
            assert!(
                matches!(pair[0].1, Err(StoreError::Unavailable(_))),
                "the spare was refused removal after an add that answered {:?}",
                pair[0].1
            );
        }
    }
    eprintln!(
        "{} sends and {} membership changes; {unavailable} ran out of budget; injected {:?}",
        sends.len(),
        changes.len(),
        chaos.injected()
    );

    // The clients retry what failed with its client_id; one more send finishes the rest.
    for (send, _, result) in &sends {
        if result.is_err() && send.client_id.is_some() {
            check.send(send).await.unwrap();
        }
    }
    check.send(&to_group(&group.owner, &group.id, "last", None)).await.unwrap();
    let members = &group.members;
    let feeds = deliveries(&check, members).await;
    for (send, _, result) in &sends {
        let reached = feeds.iter().filter(|f| f.contains_key(&send.message.id)).count();
        let expected =
            if result.is_ok() || send.client_id.is_some() { vec![members.len()] } else { vec![0, members.len()] };
        assert!(expected.contains(&reached), "{} reached {reached} of {} members", send.message.id, members.len());
        assert!(feeds.iter().all(|f| f.get(&send.message.id).copied().unwrap_or(0) <= 1), "delivered twice");
    }
}

/// The conformance suite's attack on the cursor invariant — concurrent senders and pollers on
/// overlapping feeds — through every fault at once: conflicts, throttling, 500s, latency, polls
/// that miss an item, and transactions applied while their answer is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cursor_invariant_holds_through_every_fault() {
    let Some(endpoint) = chaos_emulator_endpoint() else { return };
    let chaos = Chaos::start(&endpoint, 6).await;
    chaos.add(Rule::sometimes(Some(TRANSACT), 0.2, Effect::CancelTransaction("TransactionConflict")));
    chaos.add(Rule::sometimes(Some(TRANSACT), 0.05, Effect::CancelTransaction("ThrottlingError")));
    // Some 1,300 transactions at 20 sends a sender (counted at the proxy): often enough to be
    // injected every run.
    chaos.add(Rule::sometimes(Some(TRANSACT), 0.015, Effect::AppliedButLost));
    chaos.add(Rule::sometimes(Some("Query"), 0.3, Effect::HideQueryItem));
    chaos.add(Rule::sometimes(None, 0.03, Effect::Throttle));
    chaos.add(Rule::sometimes(None, 0.02, Effect::ServerError));
    chaos.add(Rule::sometimes(None, 0.2, Effect::Delay(Duration::from_millis(20))));
    let watch = chaos.clone();
    let backend = Backend::dynamodb_through(&endpoint, chaos, EMULATOR_OPERATION_BUDGET).await.unwrap();
    messaging_tests::conformance::cursor_invariant_attack(&backend, 20).await;
    let injected = watch.injected();
    eprintln!("injected: {injected:?}");
    for effect in
        ["CancelTransaction(\"TransactionConflict\")", "HideQueryItem", "Throttle", "ServerError", "AppliedButLost"]
    {
        assert!(injected.get(effect).is_some_and(|&n| n > 0), "{effect} was never injected: {injected:?}");
    }
}

/// The chaos layer itself: a `Query` item is hidden only while a transaction is in flight, as
/// only then can DynamoDB not show it yet. Hiding one at rest ended a reader's walk early, so a
/// poller and the whole feed read after every send disagreed now and then in the cursor test.
#[tokio::test]
async fn at_rest_a_reader_sees_every_item_through_the_chaos_layer() {
    let Some(endpoint) = chaos_emulator_endpoint() else { return };
    let chaos = Chaos::start(&endpoint, 7).await;
    chaos.add(Rule::always(Some("Query"), Effect::HideQueryItem));
    let (direct, through) = stores(&[&chaos], EMULATOR_OPERATION_BUDGET).await.unwrap();
    let (alice, bob) = (user(&direct).await, user(&direct).await);
    for text in ["one", "two", "three"] {
        direct.send(&fixtures::outgoing(&alice, Recipient::Direct(bob.clone()), text, None)).await.unwrap();
    }
    let page = through[0].feed(&bob, Seq::START, 10).await.unwrap();
    assert_eq!((page.entries.len(), page.has_more), (3, false));
}
