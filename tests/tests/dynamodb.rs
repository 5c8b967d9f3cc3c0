//! Every suite against the DynamoDB store on the emulator (moto), plus its request budget.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use messaging_tests::Backend;
use messaging_tests::client::TestApp;
use messaging_tests::fixtures::{self, user};
use messaging_tests::identity_provider::sign_hs256;
use runtime::domain::message::Outgoing;
use runtime::domain::{ConnectionId, Group, Name, Recipient, Seq, SessionId, UserId};
use runtime::identity::{IdentityOptions, IdentityProvider};
use runtime::store::MembershipChange;
use runtime::store::connections::{ConnectionRecord, Connections};
use runtime::store::dynamodb::capacity::{Read, item_size, read_units, write_units};
use runtime::store::dynamodb::items::{GROUP, Item, entity_key, group_item, group_pk};
use runtime::store::dynamodb::metrics::OperationCost;
use runtime::store::dynamodb::{CHUNK, DynamoStore};
use serde_json::json;

#[path = "dynamodb/send_marks.rs"]
mod send_marks;

messaging_tests::store_conformance_tests!(Backend::dynamodb);
messaging_tests::api_tests!(Backend::dynamodb);

/// What the store spent on everything since the last call, which resets the counters.
fn spent(dynamo: &DynamoStore) -> BTreeMap<&'static str, OperationCost> {
    let spent = dynamo.metrics().snapshot();
    dynamo.metrics().reset();
    spent
}

/// Asserts that exactly one store call of `operation` happened, making `requests` requests billed
/// `units` (read, write request units) by DynamoDB's on-demand rules.
#[track_caller]
fn assert_budget(dynamo: &DynamoStore, operation: &str, requests: u64, units: (f64, f64)) {
    let spent = spent(dynamo);
    let cost = spent.get(operation).unwrap_or_else(|| panic!("no {operation} recorded: {spent:?}"));
    assert_eq!((spent.len(), cost.calls, cost.requests), (1, 1, requests), "{operation}: {spent:?}");
    assert_eq!((cost.billed_read_units, cost.billed_write_units), units, "{operation} billed units");
}

/// An item of the entities table as stored, read straight from the emulator.
async fn stored_item(dynamo: &DynamoStore, key: Item) -> Item {
    let get = emulator().get_item().table_name(&dynamo.options().entities_table).set_key(Some(key.clone()));
    get.send().await.unwrap().item.unwrap_or_else(|| panic!("no item {key:?}"))
}

/// A client of the emulator, to read or change items behind the store's back.
fn emulator() -> aws_sdk_dynamodb::Client {
    messaging_tests::backend::emulator_client(&messaging_tests::backend::emulator_endpoint().unwrap())
}

/// A message of a 200-byte text, the usage scenario's.
fn outgoing(from: &UserId, to: Recipient, client_id: Option<&str>) -> Outgoing {
    fixtures::outgoing(from, to, &"x".repeat(200), client_id)
}

/// The request counts documented in the README ("DynamoDB request budget"), one operation at a
/// time. A poll is one request; group sends grow by two requests per CHUNK members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_makes_its_documented_number_of_requests() {
    let Some(backend) = Backend::dynamodb().await else { return };
    let dynamo = backend.dynamo.clone().unwrap();
    let store = &*backend.store;

    // Every item here is under 1 KB (writes) and every read under 4 KB: each item written is one
    // write unit (two in a transaction, condition checks included), each read one read unit, and
    // a read that finds nothing still one.
    let alice = user(store, "alice").await;
    assert_budget(&dynamo, "create_user", 1, (0.0, 1.0));
    let bob = user(store, "bob").await;
    spent(&dynamo);
    store.user(&bob).await.unwrap();
    assert_budget(&dynamo, "get_user", 1, (1.0, 0.0));
    store.block(&alice, &bob).await.unwrap();
    assert_budget(&dynamo, "block", 2, (1.0, 1.0)); // read the target's profile, put the block
    store.blocked(&alice).await.unwrap();
    assert_budget(&dynamo, "list_blocks", 1, (1.0, 0.0));
    store.unblock(&alice, &bob).await.unwrap();
    assert_budget(&dynamo, "unblock", 1, (0.0, 1.0));

    // The first message between two users: the two heads and their conversation's summary in one
    // BatchGetItem (nothing found: 3), their profiles (2) for the names the summary keeps; a
    // transaction of 10 items × 2: per feed a head update and an entry put, the recipient's
    // profile and block checks, the numbered log item, the summary and each user's side of it.
    store.send(&outgoing(&alice, Recipient::Direct(bob.clone()), None)).await.unwrap();
    assert_budget(&dynamo, "send_direct", 3, (5.0, 20.0));
    // From then on: heads and summary (3); 7 items × 2 — the summary's update (from the count it
    // was read at, the sender's read position with it) takes the profile check's place, and
    // the log item is the one item a send adds.
    store.send(&outgoing(&alice, Recipient::Direct(bob.clone()), None)).await.unwrap();
    assert_budget(&dynamo, "send_direct", 2, (3.0, 14.0));
    // To oneself: one feed. First (head, summary: 2; the profile: 1; 7 items), then 5 items.
    store.send(&outgoing(&alice, Recipient::Direct(alice.clone()), None)).await.unwrap();
    assert_budget(&dynamo, "send_direct", 3, (3.0, 14.0));
    store.send(&outgoing(&alice, Recipient::Direct(alice.clone()), None)).await.unwrap();
    assert_budget(&dynamo, "send_direct", 2, (2.0, 10.0));
    // With a client_id the transaction also puts the send record: 8 items × 2.
    let keyed = outgoing(&alice, Recipient::Direct(bob.clone()), Some("k1"));
    store.send(&keyed).await.unwrap();
    assert_budget(&dynamo, "send_direct", 2, (3.0, 16.0));
    // A replay: heads and summary (3), the transaction that the record's existence cancels
    // (billed as if it committed, 16: an upper bound), and the record read (1).
    assert!(store.send(&keyed).await.unwrap().replayed);
    assert_budget(&dynamo, "send_direct", 3, (4.0, 16.0));

    let group = Group::new(Name::parse("team").unwrap(), alice.clone());
    store.create_group(&group).await.unwrap();
    // The group, the owner's membership note, the owner's side of the conversation, and the
    // group's list of its members' spans.
    assert_budget(&dynamo, "create_group", 4, (0.0, 4.0));
    store.group(&group.id).await.unwrap();
    assert_budget(&dynamo, "get_group", 1, (1.0, 0.0));
    let change = MembershipChange { group: group.id.clone(), caller: alice.clone(), user: bob.clone() };
    store.add_member(&change, 1000).await.unwrap();
    // The group read; the user and their block of the caller in one BatchGetItem (a read unit
    // each, found or not); their head, side and the group's list of spans (3); a transaction of
    // 6 items × 2: the group, their side, the membership note, the list of spans, and the
    // membership entry in their feed.
    assert_budget(&dynamo, "add_member", 4, (6.0, 12.0));
    store.add_member(&change, 1000).await.unwrap();
    assert_budget(&dynamo, "add_member", 1, (1.0, 0.0)); // a member already: the group read alone
    // The group read (1) and two heads (2); 6 items × 2: the group's update (version, count,
    // newest message, the sender's newest message as their read position) in place of its
    // version check, 2 × (head, entry), and the log item — the one item a send adds.
    store.send(&outgoing(&alice, Recipient::Group(group.id.clone()), None)).await.unwrap();
    assert_budget(&dynamo, "send_group", 3, (3.0, 12.0));
    store.remove_member(&change).await.unwrap();
    // The group read, their head, side and the list of spans, the same transaction of 6 items.
    assert_budget(&dynamo, "remove_member", 3, (4.0, 12.0));

    // Group sends scale linearly: one group read, then a head read and a transaction per CHUNK.
    // Large groups make large group items: their read and their version check cost more.
    let mut members = vec![alice.clone()];
    for i in 0..119 {
        members.push(user(store, &format!("member{i}")).await);
    }
    for size in [CHUNK, CHUNK + 1, 120] {
        let mut big = Group::new(Name::parse("big").unwrap(), alice.clone());
        big.members = members[..size].to_vec();
        store.create_group(&big).await.unwrap();
        spent(&dynamo);
        store.send(&outgoing(&alice, Recipient::Group(big.id.clone()), Some(&format!("big{size}")))).await.unwrap();
        let group_bytes = item_size(&group_item(&big, 1));
        // The group item after the send (its count, newest message and the sender's mark added),
        // which the update is billed by.
        let group_after = item_size(&stored_item(&dynamo, entity_key(group_pk(&big.id), GROUP)).await);
        // The recipients record: pk, sk and the `recipients` list (3 bytes, 1 per element, the ids).
        let ids: u64 = big.members.iter().map(|m| 1 + m.as_str().len() as u64).sum();
        let record_key = (2 + format!("U#{alice}").len() + 2 + format!("recipients#big{size}").len()) as u64;
        let recipients_bytes = record_key + "recipients".len() as u64 + 3 + ids;
        let chunks = size.div_ceil(CHUNK) as f64;
        // Reads: the group item, and one head per member.
        let reads = read_units(group_bytes, Read::Strong) + size as f64;
        // Writes, at the transactional rate: the first chunk updates the group and puts the send
        // record and the log item, each member costs a head update and an entry put, a
        // multi-chunk send also records its recipients and puts the group's pending marker in the
        // first chunk, advances its progress in each later one, and deletes the marker in the last.
        let mut writes = write_units(group_after, true) + 2.0 + 4.0 * size as f64 + 2.0;
        if chunks > 1.0 {
            writes += write_units(recipients_bytes, true) + 2.0 + 2.0 * (chunks - 1.0) + 2.0;
        }
        assert_budget(&dynamo, "send_group", 1 + 2 * chunks as u64, (reads, writes));
        let last = members[size - 1].clone();
        let page = store.feed(&last, Seq::START, 10).await.unwrap();
        assert_eq!(page.entries.len(), 1, "the last member of {size} got the message");
    }

    // A poll reads up to `limit + 1` entries and is billed for all of them together, rounded up
    // to 4 KB, at least one unit: the entries as stored, read here straight from the table.
    let stored = emulator()
        .query()
        .table_name(&dynamo.options().feeds_table)
        .key_condition_expression("#u = :u AND #s > :zero")
        .expression_attribute_names("#u", "user")
        .expression_attribute_names("#s", "seq")
        .expression_attribute_values(":u", aws_sdk_dynamodb::types::AttributeValue::S(alice.to_string()))
        .expression_attribute_values(":zero", aws_sdk_dynamodb::types::AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();
    let sizes: Vec<u64> = stored.items().iter().map(item_size).collect();
    assert!(sizes.len() >= 5 && sizes.iter().all(|&s| s > 300), "entries carry a 200-byte text: {sizes:?}");
    spent(&dynamo);
    for limit in [1, 100] {
        let page = store.feed(&alice, Seq::START, limit).await.unwrap();
        assert!(!page.entries.is_empty());
        let spent = spent(&dynamo);
        assert_eq!((spent["poll"].calls, spent["poll"].requests), (1, 1));
        assert!(spent["poll"].read_units > 0.0, "the capacity DynamoDB reports is counted: {spent:?}");
        let read: u64 = sizes.iter().take(limit + 1).sum();
        assert_eq!(spent["poll"].billed_read_units, read_units(read, Read::Strong), "{limit}: {read} bytes");
    }
    let nobody = user(store, "nobody").await;
    spent(&dynamo);
    assert!(store.feed(&nobody, Seq::START, 20).await.unwrap().entries.is_empty());
    assert_eq!(spent(&dynamo)["poll"].billed_read_units, 1.0, "an empty poll still costs one read unit");
}

/// The app's users and sessions: the README's request budget, one operation at a time. Every
/// item is under 1 KB, every read under 4 KB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_operations_make_their_documented_requests() {
    use runtime::domain::session::now;
    use runtime::domain::{AppUserId, Name, RefreshToken, Session, SessionId};
    use runtime::store::Rotation;

    let Some(backend) = Backend::dynamodb().await else { return };
    let dynamo = backend.dynamo.clone().unwrap();
    let store = &*backend.store;
    let app = AppUserId::parse("auth0|budget").unwrap();
    let name = Name::parse("Ada").unwrap();
    // The mapping read (nothing found: still a unit), its conditional put, the profile's put.
    let user = store.upsert_app_user(&app, &name, &UserId::generate()).await.unwrap();
    assert_budget(&dynamo, "upsert_app_user", 3, (1.0, 2.0));
    // Again with the same name: the mapping and the profile read, nothing written.
    store.upsert_app_user(&app, &name, &UserId::generate()).await.unwrap();
    assert_budget(&dynamo, "upsert_app_user", 2, (2.0, 0.0));
    // Renamed, with no conversation yet: the reads, the Query of their conversations, the profile.
    store.upsert_app_user(&app, &Name::parse("Ada Lovelace").unwrap(), &UserId::generate()).await.unwrap();
    assert_budget(&dynamo, "upsert_app_user", 4, (3.0, 1.0));
    store.app_user(&app).await.unwrap();
    assert_budget(&dynamo, "get_app_user", 2, (2.0, 0.0));

    let session = |generation| RefreshToken::issue(user.id.clone(), SessionId::generate(), generation);
    let first = session(0);
    store.create_session(&Session::of(&first, now() + 60)).await.unwrap();
    assert_budget(&dynamo, "create_session", 1, (0.0, 1.0));
    let second = first.successor();
    let rotation = store.rotate_session(&first, &Session::of(&second, now() + 60), now()).await.unwrap();
    assert_eq!(rotation, Rotation::Rotated);
    assert_budget(&dynamo, "refresh_session", 2, (1.0, 1.0)); // read the session, put it conditionally
    let replay = store.rotate_session(&first, &Session::of(&first.successor(), now() + 60), now()).await.unwrap();
    assert_eq!(replay, Rotation::Revoked);
    assert_budget(&dynamo, "refresh_session", 2, (1.0, 1.0)); // read it, delete it
    store.revoke_session(&user.id, &second.session).await.unwrap();
    assert_budget(&dynamo, "revoke_session", 1, (0.0, 1.0));
    for _ in 0..2 {
        store.create_session(&Session::of(&session(0), now() + 60)).await.unwrap();
    }
    spent(&dynamo);
    store.revoke_sessions(&user.id).await.unwrap();
    assert_budget(&dynamo, "revoke_sessions", 3, (1.0, 2.0)); // one Query, a delete per session

    // `POST /v1/sessions`: the app user's lookup and the new session; a new or renamed user adds
    // the upsert. No request goes to the store before the token has verified.
    let secret = b"the budget test's shared secret, 32+ bytes";
    let identity = IdentityProvider::new(IdentityOptions {
        jwks_url: None,
        hs256_secret: Some(String::from_utf8(secret.to_vec()).unwrap()),
        issuer: None,
        audience: None,
        leeway_secs: 60,
        name_claim: "name".into(),
    })
    .unwrap();
    let app = TestApp::with_identity(&backend, 1000, None, TestApp::default_sessions(), identity);
    let sign_in = |name: &str| {
        let token = sign_hs256(secret, &json!({ "sub": "auth0|exchange", "name": name, "exp": now() + 60 }));
        let body = json!({ "id_token": token }).to_string();
        let app = &app;
        async move { app.call("POST", "/v1/sessions", None, Some(&body)).await.assert_status(201).clone() }
    };
    let requests = |spent: BTreeMap<&'static str, OperationCost>| -> Vec<(&'static str, u64)> {
        spent.into_iter().map(|(operation, cost)| (operation, cost.requests)).collect()
    };
    spent(&dynamo);
    sign_in("Ada").await;
    let first = [("create_session", 1), ("get_app_user", 1), ("upsert_app_user", 3)];
    assert_eq!(requests(spent(&dynamo)), first, "a new user: 5 requests");
    sign_in("Ada").await;
    assert_eq!(requests(spent(&dynamo)), [("create_session", 1), ("get_app_user", 2)], "a returning user: 3");
    sign_in("Ada L.").await;
    let renamed = [("create_session", 1), ("get_app_user", 2), ("upsert_app_user", 4)];
    assert_eq!(requests(spent(&dynamo)), renamed, "a renamed user: 7");
    let refused = json!({ "id_token": sign_hs256(b"not the secret, but 32 bytes long!", &json!({})) }).to_string();
    app.call("POST", "/v1/sessions", None, Some(&refused)).await.assert_error(401, "invalid_id_token");
    assert!(spent(&dynamo).is_empty(), "a refused token costs no request");

    // Erasing that user (a profile and three sessions, no feed, no group): the app id's mapping,
    // their partition and their feed read; one `BatchWriteItem` for the four items, then the
    // mapping deleted.
    let exchange = AppUserId::parse("auth0|exchange").unwrap();
    assert!(store.erase_app_user(&exchange).await.unwrap().is_some());
    assert_budget(&dynamo, "erase_app_user", 5, (3.0, 5.0));
}

/// The connection records of push on AWS, and what a send's push reads: the README's request
/// budget, "with push" column. Every item is under 1 KB and 4 KB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_records_make_their_documented_requests() {
    let Some(backend) = Backend::dynamodb().await else { return };
    let dynamo = backend.dynamo.clone().unwrap();
    let store = &*backend.store;
    let (alice, bob) = (user(store, "alice").await, user(store, "bob").await);
    let (first, second) = (ConnectionId::parse("bob-1=").unwrap(), ConnectionId::parse("bob-2=").unwrap());
    let now = chrono::Utc::now().timestamp() as u64;
    let record = |user: &UserId, connection: &ConnectionId, session: &SessionId, expires_at| ConnectionRecord {
        user: user.clone(),
        connection: connection.clone(),
        session: session.clone(),
        expires_at,
        connected_at: now,
        membership: false,
    };
    let (phone, laptop) = (SessionId::generate(), SessionId::generate());
    let bob_first = record(&bob, &first, &phone, now + 3600);
    // Opened with `include=membership`: every read of it says so, a reauth's included.
    let bob_second = ConnectionRecord { membership: true, ..record(&bob, &second, &laptop, now + 60) };
    spent(&dynamo);

    // The connection's own item, and its entry in the user's item: two writes.
    dynamo.open_connection(&bob_first).await.unwrap();
    assert_budget(&dynamo, "connect", 2, (0.0, 2.0));
    dynamo.open_connection(&bob_second).await.unwrap();
    spent(&dynamo);
    // A send's lookup: one BatchGetItem per 100 recipients, a read unit per recipient, found or
    // not; each connection with its session and its token's expiry.
    let mut open = dynamo.open_connections(&[alice.clone(), bob.clone()]).await.unwrap();
    open.sort();
    assert_eq!(open, [bob_first.clone(), bob_second.clone()]);
    assert_budget(&dynamo, "push_lookup", 1, (2.0, 0.0));
    let mut many = vec![bob.clone()];
    for _ in 0..149 {
        many.push(UserId::generate());
    }
    assert_eq!(dynamo.open_connections(&many).await.unwrap().len(), 2);
    assert_budget(&dynamo, "push_lookup", 2, (150.0, 0.0));

    // A message on the connection (`$default`): its record, one read.
    assert_eq!(dynamo.connection_owner(&first).await.unwrap(), Some(bob_first.clone()));
    assert_budget(&dynamo, "connection_owner", 1, (1.0, 0.0));
    // A reauth moves one connection to the fresh token's session and expiry: two writes, and
    // the lookup and the record both see it; the other connection is untouched.
    let reauthed = ConnectionRecord { membership: true, ..record(&bob, &second, &phone, now + 7200) };
    assert!(dynamo.extend_connection(&reauthed).await.unwrap());
    assert_budget(&dynamo, "extend_connection", 2, (0.0, 2.0));
    assert_eq!(dynamo.connection_owner(&second).await.unwrap(), Some(reauthed.clone()));
    let mut open = dynamo.open_connections(std::slice::from_ref(&bob)).await.unwrap();
    open.sort();
    assert_eq!(open, [bob_first.clone(), reauthed.clone()]);
    // One that is not recorded is not extended, and not recorded by the attempt.
    let stranger = record(&bob, &ConnectionId::parse("nobody=").unwrap(), &phone, now + 7200);
    assert!(!dynamo.extend_connection(&stranger).await.unwrap());
    assert_eq!(dynamo.connection_owner(&stranger.connection).await.unwrap(), None);
    assert_eq!(dynamo.open_connections(std::slice::from_ref(&bob)).await.unwrap().len(), 2);
    // An entry that does not parse is skipped, not fatal to the lookup of every recipient.
    let client = emulator();
    let bobs_connections = HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("U#{bob}"))),
        ("sk".to_owned(), AttributeValue::S("connections".to_owned())),
    ]);
    let damage = client
        .update_item()
        .table_name(&dynamo.options().entities_table)
        .set_key(Some(bobs_connections))
        .update_expression("SET #c = :bad")
        .expression_attribute_names("#c", "c#damaged=")
        .expression_attribute_values(":bad", AttributeValue::S("not an entry".into()));
    damage.send().await.unwrap();
    let mut open = dynamo.open_connections(&[alice.clone(), bob.clone()]).await.unwrap();
    open.sort();
    assert_eq!(open, [bob_first.clone(), reauthed.clone()]);
    spent(&dynamo);

    // `$disconnect`: that read, then the user's item and the connection's item written.
    assert_eq!(dynamo.close_connection(&first).await.unwrap(), Some(bob.clone()));
    assert_budget(&dynamo, "disconnect", 3, (1.0, 2.0));
    assert_eq!(dynamo.connection_owner(&first).await.unwrap(), None);
    spent(&dynamo);
    // A push answered 410: the same two writes, the user known already.
    dynamo.forget_connection(&bob, &second).await.unwrap();
    assert_budget(&dynamo, "forget_connection", 2, (0.0, 2.0));
    assert!(dynamo.open_connections(std::slice::from_ref(&bob)).await.unwrap().is_empty());
    // A removal for a user whose item is gone (expired and deleted, erased) leaves no bare item.
    let nobody = UserId::generate();
    dynamo.forget_connection(&nobody, &ConnectionId::parse("gone=").unwrap()).await.unwrap();
    let key = HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("U#{nobody}"))),
        ("sk".to_owned(), AttributeValue::S("connections".to_owned())),
    ]);
    let table = &dynamo.options().entities_table;
    let bare = client.get_item().table_name(table).set_key(Some(key)).consistent_read(true).send().await.unwrap();
    assert_eq!(bare.item(), None, "no item is created by a removal");

    // Past its `ttl` (which DynamoDB deletes only eventually) an item lists only dead connections:
    // it reads as empty, and the next connection replaces it instead of joining it.
    let expired = (chrono::Utc::now().timestamp() - 60).to_string();
    let dead = AttributeValue::M(HashMap::from([
        ("session".to_owned(), AttributeValue::S(phone.to_string())),
        ("expires".to_owned(), AttributeValue::N(now.to_string())),
    ]));
    client
        .put_item()
        .table_name(&dynamo.options().entities_table)
        .item("pk", AttributeValue::S(format!("U#{alice}")))
        .item("sk", AttributeValue::S("connections".into()))
        .item("c#dead=", dead)
        .item("ttl", AttributeValue::N(expired))
        .send()
        .await
        .unwrap();
    assert!(dynamo.open_connections(std::slice::from_ref(&alice)).await.unwrap().is_empty());
    spent(&dynamo);
    let fresh = record(&alice, &ConnectionId::parse("alice-1=").unwrap(), &laptop, now + 3600);
    dynamo.open_connection(&fresh).await.unwrap();
    assert_budget(&dynamo, "connect", 3, (0.0, 3.0)); // the refused update, then a put
    assert_eq!(dynamo.open_connections(std::slice::from_ref(&alice)).await.unwrap(), [fresh]);
}

/// Erasing a user on DynamoDB hands back their open connections (for `DeleteConnection`) and
/// deletes every record of them: their own items and their entries in the user's item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_user_forgets_their_connections() {
    use runtime::domain::AppUserId;
    let Some(backend) = Backend::dynamodb().await else { return };
    let dynamo = backend.dynamo.clone().unwrap();
    let app_user = AppUserId::parse("app|erased-with-connections").unwrap();
    let user = backend.store.upsert_app_user(&app_user, &Name::parse("Eve").unwrap(), &UserId::generate()).await;
    let user = user.unwrap().id;
    let (session, expires_at) = (SessionId::generate(), chrono::Utc::now().timestamp() as u64 + 3600);
    let mut opened = Vec::new();
    for id in ["eve-1=", "eve-2="] {
        let connection = ConnectionId::parse(id).unwrap();
        let record = ConnectionRecord {
            user: user.clone(),
            connection,
            session: session.clone(),
            expires_at,
            connected_at: 0,
            membership: false,
        };
        dynamo.open_connection(&record).await.unwrap();
        opened.push(record.connection);
    }
    let mut erased = backend.store.erase_app_user(&app_user).await.unwrap().expect("the user existed").connections;
    erased.sort();
    assert_eq!(erased, opened, "the connections to close");
    for connection in &opened {
        assert_eq!(dynamo.connection_owner(connection).await.unwrap(), None, "{connection}'s record is gone");
    }
    assert!(dynamo.open_connections(std::slice::from_ref(&user)).await.unwrap().is_empty());
}

/// On Lambda a store operation's budget ends with the invocation: with no time left before the
/// request's deadline, an operation gives up at once with `Unavailable` (503, `Retry-After`)
/// instead of running into Lambda's timeout.
#[tokio::test]
async fn an_operation_stops_at_the_requests_deadline() {
    let Some(backend) = Backend::dynamodb().await else { return };
    let store = &*backend.store;
    let alice = user(store, "alice").await;
    let now = tokio::time::Instant::now();
    let read = runtime::deadline::within(Some(now), store.user(&alice)).await;
    assert!(matches!(read, Err(runtime::store::StoreError::Unavailable(_))), "{read:?}");
    let later = now + std::time::Duration::from_secs(30);
    assert!(runtime::deadline::within(Some(later), store.user(&alice)).await.unwrap().is_some());
}

/// Through HTTP: authentication and the cursor cost no store read, so a poll is one request.
#[tokio::test]
async fn a_poll_over_http_is_exactly_one_dynamodb_request() {
    let Some(backend) = Backend::dynamodb().await else { return };
    let dynamo = backend.dynamo.clone().unwrap();
    let app = TestApp::new(&backend);
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    app.send_direct(&alice, &bob.id, "hello").await.assert_status(201);
    spent(&dynamo);
    let page = app.get("/v1/messages", &bob.token).await.assert_status(200).clone();
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    let from_start = spent(&dynamo);
    assert_eq!(from_start.values().map(|cost| cost.requests).sum::<u64>(), 1, "{from_start:?}");
    let cursor = page["next"].as_str().unwrap();
    app.get(&format!("/v1/messages?after={cursor}"), &bob.token).await.assert_status(200);
    let with_cursor = spent(&dynamo);
    assert_eq!(with_cursor.values().map(|cost| cost.requests).sum::<u64>(), 1, "{with_cursor:?}");
}

mod retention {
    use aws_sdk_dynamodb::types::AttributeValue;
    use messaging_tests::backend::{emulator_client, emulator_endpoint, fresh_tables};
    use runtime::domain::message::Outgoing;
    use runtime::domain::{Message, MessageJson, Recipient, Seq, Text, UserId};
    use runtime::store::Store;
    use runtime::store::dynamodb::items::Item;
    use runtime::store::dynamodb::{DynamoOptions, DynamoStore, schema};

    async fn store(ttl_days: u32) -> Option<(DynamoStore, aws_sdk_dynamodb::Client, DynamoOptions)> {
        let endpoint = emulator_endpoint()?;
        let options = DynamoOptions { feed_ttl_days: ttl_days, ..fresh_tables() };
        let client = emulator_client(&endpoint);
        schema::create_tables(&client, &options).await.unwrap();
        Some((DynamoStore::new(client.clone(), options.clone()), client, options))
    }

    async fn note_to_self(store: &DynamoStore, user: &UserId, text: &str) -> Message {
        let message = Message::new(user.clone(), Recipient::Direct(user.clone()), Text::parse(text.into()).unwrap());
        store.send(&Outgoing { message: message.clone(), client_id: None }).await.unwrap();
        message
    }

    async fn registered(store: &DynamoStore) -> UserId {
        messaging_tests::fixtures::user(store, "u").await
    }

    async fn entry(client: &aws_sdk_dynamodb::Client, options: &DynamoOptions, user: &UserId, seq: u64) -> Item {
        let key = runtime::store::dynamodb::items::feed_key(user, seq);
        client.get_item().table_name(&options.feeds_table).set_key(Some(key)).send().await.unwrap().item.unwrap()
    }

    #[tokio::test]
    async fn feed_entries_carry_a_ttl_only_when_retention_is_configured() {
        let Some((kept, client, options)) = store(0).await else { return };
        let user = registered(&kept).await;
        note_to_self(&kept, &user, "kept").await;
        assert!(!entry(&client, &options, &user, 1).await.contains_key("ttl"));

        let (expiring, client, options) = store(7).await.unwrap();
        let ttl = client.describe_time_to_live().table_name(&options.feeds_table).send().await.unwrap();
        let description = ttl.time_to_live_description().unwrap();
        assert_eq!(description.attribute_name(), Some("ttl"));
        let user = registered(&expiring).await;
        note_to_self(&expiring, &user, "expires").await;
        let item = entry(&client, &options, &user, 1).await;
        let expires: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
        let in_seven_days = chrono::Utc::now().timestamp() + 7 * 86_400;
        assert!((expires - in_seven_days).abs() < 60, "ttl {expires} is not 7 days from now");
    }

    /// Writes `text` at position `seq` of `user`'s feed directly, as written `age` ago, leaving
    /// the positions before it as they are (a gap, if they are missing).
    async fn entry_at(
        client: &aws_sdk_dynamodb::Client,
        options: &DynamoOptions,
        user: &UserId,
        seq: u64,
        age: std::time::Duration,
    ) -> Message {
        let message =
            Message::new(user.clone(), Recipient::Direct(user.clone()), Text::parse(format!("{seq}")).unwrap());
        let mut item = runtime::store::dynamodb::items::feed_key(user, seq);
        let json = String::from_utf8(MessageJson::encode(&message).as_bytes().to_vec()).unwrap();
        item.insert("message".into(), AttributeValue::S(json));
        let at = chrono::Utc::now().timestamp_millis() - age.as_millis() as i64;
        item.insert("at".into(), AttributeValue::N(at.to_string()));
        client.put_item().table_name(&options.feeds_table).set_item(Some(item)).send().await.unwrap();
        message
    }

    fn positions(page: &runtime::domain::FeedPage) -> Vec<u64> {
        page.entries.iter().map(|(s, _)| s.0).collect()
    }

    const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

    /// Without retention a gap can only be a write not visible yet: a poll stops before it, however
    /// old the entries around it look (by whatever clock wrote them), and never skips it.
    #[tokio::test]
    async fn without_retention_a_gap_is_never_skipped() {
        let Some((store, client, options)) = store(0).await else { return };
        let user = registered(&store).await;
        entry_at(&client, &options, &user, 1, 400 * DAY).await;
        entry_at(&client, &options, &user, 3, 300 * DAY).await;
        let page = store.feed(&user, Seq::START, 10).await.unwrap();
        assert_eq!(positions(&page), [1]);
        assert!(page.has_more, "the reader is told to come back for what lies past the gap");
        let page = store.feed(&user, Seq(1), 10).await.unwrap();
        assert!(page.entries.is_empty() && page.has_more);
    }

    /// With retention, a gap is skipped only where the entries could have expired: the entry
    /// before it within hours of its own expiry (or gone too) and the entry after it settled.
    #[tokio::test]
    async fn with_retention_only_a_gap_that_can_be_expiry_is_skipped() {
        let Some((store, client, options)) = store(7).await else { return };
        let user = registered(&store).await;
        // Position 1 is recent, 2 missing, 3 settled: 2 cannot have expired, so it is in flight.
        entry_at(&client, &options, &user, 1, DAY).await;
        entry_at(&client, &options, &user, 3, DAY).await;
        let page = store.feed(&user, Seq::START, 10).await.unwrap();
        assert_eq!(positions(&page), [1]);
        assert!(page.has_more);
        assert!(store.feed(&user, Seq(1), 10).await.unwrap().entries.is_empty());

        // Position 1 is now within hours of its expiry: 2, written after it, may have expired.
        entry_at(&client, &options, &user, 1, 7 * DAY - std::time::Duration::from_secs(3600)).await;
        let page = store.feed(&user, Seq::START, 10).await.unwrap();
        assert_eq!(positions(&page), [1, 3]);
        assert!(!page.has_more);
        let page = store.feed(&user, Seq(1), 10).await.unwrap();
        assert_eq!(positions(&page), [3], "from the cursor, the poll reads the entry before the gap");

        // The entry after the gap was written seconds ago: wait, whatever the entry before says.
        entry_at(&client, &options, &user, 5, std::time::Duration::from_secs(1)).await;
        let page = store.feed(&user, Seq(3), 10).await.unwrap();
        assert!(page.entries.is_empty() && page.has_more);

        // Everything before the gap is gone (expired and deleted): the cursor's own entry too.
        let user = registered(&store).await;
        entry_at(&client, &options, &user, 4, 2 * DAY).await;
        let page = store.feed(&user, Seq(2), 10).await.unwrap();
        assert_eq!(positions(&page), [4], "a reader idle past the retention moves on to what is left");
    }
}

/// What the shared limits add to the budget (README, "DynamoDB request budget"): a charge is one
/// conditional `UpdateItem` (one write unit), refused or not; a send's charge rides in its first
/// transaction (no request, two write units); `connections_per_user` adds one read to a connect.
/// And a refusal writes nothing: the counter stays where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_cost_what_the_readme_says() {
    use runtime::domain::{Rejection, Rule, RuleLimits};
    use runtime::store::StoreError;
    let limits = RuleLimits {
        sends_per_user: 2,
        fanout_per_user: 7,
        connects_per_user: 1,
        connections_per_user: 1,
        ..RuleLimits::OFF
    };
    let Some(backend) = Backend::dynamodb_limited(limits).await else { return };
    let dynamo = backend.dynamo.clone().unwrap();
    let store = &*backend.store;
    let (alice, bob) = (user(store, "alice").await, user(store, "bob").await);
    spent(&dynamo);
    store.charge(Rule::ConnectsPerUser, alice.as_str(), 1).await.unwrap();
    assert_budget(&dynamo, "charge", 1, (0.0, 1.0));
    let refused = store.charge(Rule::ConnectsPerUser, alice.as_str(), 1).await.unwrap_err();
    assert!(matches!(refused, StoreError::Rejected(Rejection::RateLimited { rule: Rule::ConnectsPerUser, .. })));
    assert_budget(&dynamo, "charge", 1, (0.0, 1.0));
    store.charge(Rule::MembershipChangesPerUser, alice.as_str(), 1).await.unwrap();
    assert!(spent(&dynamo).is_empty(), "a rule that is off costs nothing");

    // The first message between them, then the next: without limits (3, (5, 22)) and
    // (2, (3, 16)) (the budget test above); the charge adds an item, 2 write units.
    store.send(&outgoing(&alice, Recipient::Direct(bob.clone()), Some("s0"))).await.unwrap();
    assert_budget(&dynamo, "send_direct", 3, (5.0, 24.0));
    store.send(&outgoing(&alice, Recipient::Direct(bob.clone()), Some("s1"))).await.unwrap();
    assert_budget(&dynamo, "send_direct", 2, (3.0, 18.0));
    let refused = store.send(&outgoing(&alice, Recipient::Direct(bob.clone()), Some("s2"))).await.unwrap_err();
    assert!(matches!(refused, StoreError::Rejected(Rejection::RateLimited { rule: Rule::SendsPerUser, .. })));
    assert_eq!(store.feed(&bob, Seq::START, 10).await.unwrap().entries.len(), 2, "the refused send wrote nothing");
    let replayed = store.send(&outgoing(&alice, Recipient::Direct(bob.clone()), Some("s1"))).await.unwrap();
    assert!(replayed.replayed, "a retry of an acknowledged send is answered over the limit");
    // Fan-out: bob's direct message writes 2 feeds, then a group of 6 would make 8 of 7 — refused
    // by the fan-out rule though bob has a send left.
    store.send(&outgoing(&bob, Recipient::Direct(alice.clone()), None)).await.unwrap();
    let mut six = Group::new(Name::parse("six").unwrap(), bob.clone());
    six.members.push(alice.clone());
    for name in ["c", "d", "e", "f"] {
        six.members.push(user(store, name).await);
    }
    store.create_group(&six).await.unwrap();
    let refused = store.send(&outgoing(&bob, Recipient::Group(six.id.clone()), None)).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Rejected(Rejection::RateLimited { rule: Rule::FanoutPerUser, .. })),
        "{refused:?}"
    );
    spent(&dynamo);

    let connection = |name: &str| ConnectionRecord {
        user: alice.clone(),
        connection: ConnectionId::parse(name).unwrap(),
        session: SessionId::generate(),
        expires_at: runtime::domain::session::now() + 3600,
        connected_at: runtime::domain::session::now(),
        membership: false,
    };
    dynamo.open_connection(&connection("first=")).await.unwrap();
    // The user's item read (nothing there), the user's item put, the connection's own item.
    let spent_now = spent(&dynamo);
    assert_eq!(spent_now["connect"].requests, 3, "{spent_now:?}");
    let refused = dynamo.open_connection(&connection("second=")).await.unwrap_err();
    assert!(matches!(refused, StoreError::Rejected(Rejection::RateLimited { rule: Rule::ConnectionsPerUser, .. })));
    assert_eq!(spent(&dynamo)["connect"].requests, 1, "a refused connect only reads");
    assert_eq!(dynamo.connection_owner(&ConnectionId::parse("second=").unwrap()).await.unwrap(), None);
    let open = dynamo.open_connections(std::slice::from_ref(&alice)).await.unwrap();
    assert_eq!(open.len(), 1, "nothing of the refused connection was recorded");
    dynamo.close_connection(&ConnectionId::parse("first=").unwrap()).await.unwrap();
    dynamo.open_connection(&connection("third=")).await.expect("a place freed by a disconnect");
}

/// `config/usage.toml`, which the cost report prices, still describes the code: the same scenario
/// run in-process gives the same DynamoDB requests, billed units, response sizes and entry size
/// (only the CPU times, which need the release binary under the Lambda emulator, are not re-run:
/// `cargo xtask measure-usage` refreshes the whole file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_usage_figures_are_the_codes() {
    let Some(backend) = Backend::dynamodb_limited(messaging_tests::usage::MEASURED_LIMITS).await else { return };
    let committed: contract::usage::MeasuredUsage =
        toml::from_str(include_str!("../../config/usage.toml")).expect("config/usage.toml parses");
    let mut measured = messaging_tests::usage::store_usage(&backend).await;
    let push = messaging_tests::usage::store_push_usage(&backend, &measured).await;
    measured.extend(push);
    assert_eq!(committed.text_bytes, messaging_tests::usage::TEXT_BYTES);
    assert_eq!(committed.feed_entry_bytes, messaging_tests::usage::feed_entry_bytes(&backend).await);
    assert_eq!(committed.operations.keys().collect::<Vec<_>>(), measured.keys().collect::<Vec<_>>());
    for (name, now) in &measured {
        let then = &committed.operations[name];
        assert!(then.lambda_cpu_ms > 0.0, "{name}: measured CPU time");
        let strip_cpu =
            |u: &contract::usage::OperationUsage| (u.dynamodb_requests, u.read_units, u.write_units, u.response_bytes);
        assert_eq!(
            strip_cpu(then),
            strip_cpu(now),
            "{name}: run `cargo xtask measure-usage` after changing what it costs"
        );
    }
}

/// A group's history pages (README, "Conversation reads"): one request each while a client
/// follows `next` — the first page too, which reads the group's list of its members' spans with
/// the newest messages — and the fallbacks that read the caller's side: a message id as cursor
/// (2), a former member's first page (3). A cursor's vouch never shows a removed member what
/// came after their removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_history_pages_are_one_request_while_following_next() {
    use runtime::domain::conversation::HistoryFrom;
    use runtime::domain::{ConversationId, Number};
    let Some(backend) = Backend::dynamodb().await else { return };
    let dynamo = backend.dynamo.clone().unwrap();
    let store = &*backend.store;
    let (alice, bob) = (user(store, "alice").await, user(store, "bob").await);
    let group = Group::new(Name::parse("team").unwrap(), alice.clone());
    store.create_group(&group).await.unwrap();
    let change = MembershipChange { group: group.id.clone(), caller: alice.clone(), user: bob.clone() };
    store.add_member(&change, 1000).await.unwrap();
    let id = ConversationId::Group(group.id.clone());
    let to = Recipient::Group(group.id.clone());
    let mut numbers = Vec::new();
    for _ in 0..12 {
        let sent = store.send(&outgoing(&alice, to.clone(), None)).await.unwrap();
        numbers.push(sent.message.id.number().unwrap().0);
    }
    spent(&dynamo);
    let requests = |dynamo: &DynamoStore| spent(dynamo).get("history").map_or(0, |cost| cost.requests);

    // Newest first, 5 at a time, following `next`: 1 request a page.
    let (mut from, mut vouched, mut seen) = (HistoryFrom::Newest, None, Vec::new());
    loop {
        let page = store.history(&bob, &id, from, vouched.as_ref(), 5).await.unwrap().unwrap();
        assert_eq!(requests(&dynamo), 1, "a page back, at {from:?}");
        seen.extend(page.messages.iter().map(|(n, _)| n.0));
        let Some(next) = page.next else { break };
        (from, vouched) = (next, page.vouched);
    }
    assert_eq!(seen, numbers.iter().rev().copied().collect::<Vec<_>>());

    // Forward from a message id (no vouch): more than a page follows it, so the newest are read
    // with the spans, then the oldest after it (2); then 1 a page, and 1 to find nothing newer.
    let (mut from, mut vouched, mut seen) = (HistoryFrom::After(Number(numbers[1])), None, Vec::new());
    let mut costs = Vec::new();
    loop {
        let page = store.history(&bob, &id, from, vouched.as_ref(), 4).await.unwrap().unwrap();
        costs.push(requests(&dynamo));
        seen.extend(page.messages.iter().map(|(n, _)| n.0));
        if page.messages.is_empty() {
            break;
        }
        (from, vouched) = (page.next.unwrap(), page.vouched);
    }
    assert_eq!(seen, numbers[2..]);
    assert_eq!(costs, [2, 1, 1, 1], "forward pages from a message id");

    // Back from a message id: their side, then the log.
    let page = store.history(&bob, &id, HistoryFrom::Before(Number(numbers[6])), None, 3).await.unwrap().unwrap();
    assert_eq!(page.messages.iter().map(|(n, _)| n.0).collect::<Vec<_>>(), [numbers[5], numbers[4], numbers[3]]);
    assert_eq!(requests(&dynamo), 2);

    // Bob holds a forward cursor, is removed, and the group goes on: the cursor's vouch reaches
    // no further than what had been sent, and his first page now reads his side (3 requests).
    let page = store.history(&bob, &id, HistoryFrom::After(Number(numbers[9])), None, 1).await.unwrap().unwrap();
    let (held, held_vouch) = (page.next.unwrap(), page.vouched.unwrap());
    store.remove_member(&change).await.unwrap();
    let after = store.send(&outgoing(&alice, to.clone(), None)).await.unwrap().message.id.number().unwrap().0;
    spent(&dynamo);
    let mut shown = Vec::new();
    let (mut from, mut vouched) = (held, Some(held_vouch));
    for _ in 0..3 {
        // A page may hold 5: a vouch that reached past what it settled would show more.
        let page = store.history(&bob, &id, from, vouched.as_ref(), 5).await.unwrap().unwrap();
        shown.extend(page.messages.iter().map(|(n, _)| n.0));
        (from, vouched) = (page.next.unwrap(), page.vouched);
    }
    spent(&dynamo);
    assert_eq!(shown, numbers[11..], "what came after his removal ({after}) is not his");
    let page = store.history(&bob, &id, HistoryFrom::Newest, None, 20).await.unwrap().unwrap();
    assert_eq!(requests(&dynamo), 3, "a former member's first page");
    assert_eq!(page.messages.first().map(|(n, _)| n.0), numbers.last().copied());
    assert!(store.history(&alice, &id, HistoryFrom::Newest, None, 1).await.unwrap().is_some());
    assert_eq!(requests(&dynamo), 1, "a member's first page");

    // Added again: his first page shows his current stint alone (1 request); going back past it
    // reads his side for the stint before (2), then 1 a page again; nothing in between is his.
    store.add_member(&change, 1000).await.unwrap();
    for _ in 0..2 {
        numbers.push(store.send(&outgoing(&alice, to.clone(), None)).await.unwrap().message.id.number().unwrap().0);
    }
    spent(&dynamo);
    let (mut from, mut vouched, mut seen, mut costs) = (HistoryFrom::Newest, None, Vec::new(), Vec::new());
    loop {
        let page = store.history(&bob, &id, from, vouched.as_ref(), 5).await.unwrap().unwrap();
        costs.push(requests(&dynamo));
        seen.extend(page.messages.iter().map(|(n, _)| n.0));
        let Some(next) = page.next else { break };
        (from, vouched) = (next, page.vouched);
    }
    let mut expected: Vec<u64> = numbers.iter().rev().copied().filter(|n| *n != after).collect();
    expected.truncate(14);
    assert_eq!(seen, expected, "both stints, newest first, without what came between");
    assert_eq!(costs, [1, 2, 1, 1]);

    // A group from before its list of spans was kept: a member's first page reads their side,
    // names them in the list (on the condition that their side is as read), and the next first
    // page is one request.
    use runtime::store::dynamodb::items::{MEMBERS, entity_key, log_pk};
    let client = emulator();
    let members = entity_key(log_pk(group.id.as_str()), MEMBERS);
    let table = &dynamo.options().entities_table;
    client.delete_item().table_name(table).set_key(Some(members)).send().await.unwrap();
    let page = store.history(&bob, &id, HistoryFrom::Newest, None, 2).await.unwrap().unwrap();
    assert_eq!(page.messages.iter().map(|(n, _)| n.0).collect::<Vec<_>>(), [numbers[13], numbers[12]]);
    assert_eq!(requests(&dynamo), 4, "the Query, the side, the listing, the log");
    store.history(&bob, &id, HistoryFrom::Newest, None, 2).await.unwrap().unwrap();
    assert_eq!(requests(&dynamo), 1, "named in the list");
    store.history(&alice, &id, HistoryFrom::Newest, None, 2).await.unwrap().unwrap();
    assert_eq!(requests(&dynamo), 4, "the owner, not named yet either");

    // A first page is billed for the whole list it read with the messages (the list keeps its
    // size): 100 members' entries, some 4.8 KB, and a message make two read units, not one.
    let big = Group::new(Name::parse("crowd").unwrap(), alice.clone());
    store.create_group(&big).await.unwrap();
    for _ in 0..100 {
        let member = user(store, "m").await;
        let change = MembershipChange { group: big.id.clone(), caller: alice.clone(), user: member };
        store.add_member(&change, 1000).await.unwrap();
    }
    store.send(&outgoing(&alice, Recipient::Group(big.id.clone()), None)).await.unwrap();
    spent(&dynamo);
    let crowd = ConversationId::Group(big.id.clone());
    store.history(&alice, &crowd, HistoryFrom::Newest, None, 20).await.unwrap().unwrap();
    assert_budget(&dynamo, "history", 1, (2.0, 0.0));
}
