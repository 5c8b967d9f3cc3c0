//! A group send moves its sender's read position on the group item it writes anyway, not on an
//! item of its own; groups from before that list of marks get it on their next send.

use messaging_tests::Backend;
use messaging_tests::fixtures::user;
use runtime::domain::conversation::ConversationId;
use runtime::domain::{Group, Name, Recipient, UserId};
use runtime::store::dynamodb::DynamoStore;
use runtime::store::dynamodb::items::{GROUP, Item, entity_key, group_pk, side_sk, user_pk};
use runtime::store::{MembershipChange, Store};

use super::{assert_budget, emulator, outgoing, spent, stored_item};

async fn unread(store: &dyn Store, user: &UserId, id: &ConversationId) -> (u64, Option<String>) {
    let page = store.inbox(user, None, 100).await.unwrap();
    let found = page.conversations.into_iter().find(|c| &c.id == id).expect("in the inbox");
    (found.unread, found.read_up_to.map(|id| id.to_string()))
}

/// A group `owner` made, with `members` added.
async fn group_of(store: &dyn Store, name: &str, owner: &UserId, members: [&UserId; 2]) -> Group {
    let group = Group::new(Name::parse(name).unwrap(), owner.clone());
    store.create_group(&group).await.unwrap();
    for member in members {
        let change = MembershipChange { group: group.id.clone(), caller: owner.clone(), user: member.clone() };
        store.add_member(&change, 1000).await.unwrap();
    }
    group
}

/// Removes an attribute from a stored item of the entities table, as a deployment from before it
/// left the item.
async fn forget(dynamo: &DynamoStore, key: Item, attribute: &str) {
    let update = emulator().update_item().table_name(&dynamo.options().entities_table).set_key(Some(key));
    update.update_expression("REMOVE #a").expression_attribute_names("#a", attribute).send().await.unwrap();
}

async fn delete(dynamo: &DynamoStore, key: Item) {
    let delete = emulator().delete_item().table_name(&dynamo.options().entities_table);
    delete.set_key(Some(key)).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_send_moves_the_senders_read_position_without_an_item_of_its_own() {
    let Some(backend) = Backend::dynamodb().await else { return };
    let dynamo = backend.dynamo.clone().unwrap();
    let store = &*backend.store;
    let (alice, bob, carol) = (user(store, "alice").await, user(store, "bob").await, user(store, "carol").await);
    let group = group_of(store, "marks", &alice, [&bob, &carol]).await;
    let (id, to) = (ConversationId::Group(group.id.clone()), Recipient::Group(group.id.clone()));

    // Three members: the group read and three heads (3 requests, 4 read units); 8 items × 2 — the group's
    // update, 3 × (head, entry), the log item. Nobody's side is written.
    let side_of = |user: &UserId| entity_key(user_pk(user), side_sk(group.id.as_str()));
    spent(&dynamo);
    let first = store.send(&outgoing(&bob, to.clone(), None)).await.unwrap().message;
    assert_budget(&dynamo, "send_group", 3, (4.0, 16.0));
    assert!(!stored_item(&dynamo, side_of(&bob)).await.contains_key("r"), "bob's side stays as it was");
    assert_eq!(unread(store, &bob, &id).await, (0, Some(first.id.to_string())));
    assert_eq!(unread(store, &carol, &id).await, (1, None));

    // A group from before the marks: its first send writes the whole list (the sender's mark,
    // the others unknown) and the sender's side, whose existence the list cannot vouch for; a
    // member the list does not know writes their side once, on their first send.
    let old = group_of(store, "old", &alice, [&bob, &carol]).await;
    let (old_id, to_old) = (ConversationId::Group(old.id.clone()), Recipient::Group(old.id.clone()));
    forget(&dynamo, entity_key(group_pk(&old.id), GROUP), "sent").await;
    // Carol, a member from before conversations were recorded, has no side at all.
    delete(&dynamo, entity_key(user_pk(&carol), side_sk(old.id.as_str()))).await;
    spent(&dynamo);
    store.send(&outgoing(&alice, to_old.clone(), None)).await.unwrap();
    assert_budget(&dynamo, "send_group", 3, (4.0, 18.0));
    let marks = stored_item(&dynamo, entity_key(group_pk(&old.id), GROUP)).await;
    let marks = marks["sent"].as_l().unwrap();
    assert_eq!((marks.len(), marks.iter().filter(|m| m.is_bool()).count()), (3, 2), "two unknown");
    store.send(&outgoing(&alice, to_old.clone(), None)).await.unwrap();
    assert_budget(&dynamo, "send_group", 3, (4.0, 16.0));
    let bobs = store.send(&outgoing(&bob, to_old.clone(), None)).await.unwrap().message;
    assert_budget(&dynamo, "send_group", 3, (4.0, 18.0));
    let carols = store.send(&outgoing(&carol, to_old.clone(), None)).await.unwrap().message;
    assert_budget(&dynamo, "send_group", 3, (4.0, 18.0));
    store.send(&outgoing(&carol, to_old.clone(), None)).await.unwrap();
    assert_budget(&dynamo, "send_group", 3, (4.0, 16.0));
    assert_eq!(unread(store, &alice, &old_id).await.0, 3);
    assert_eq!(unread(store, &bob, &old_id).await, (2, Some(bobs.id.to_string())));
    assert!(carols.id.number() > bobs.id.number());
    let (carol_unread, carol_read) = unread(store, &carol, &old_id).await;
    assert_eq!(carol_unread, 0, "her side starts at her first message; her own sends are read");
    assert!(carol_read.is_some());

    // A removal keeps the removed member's position from the list on their side.
    let change = MembershipChange { group: group.id.clone(), caller: alice.clone(), user: carol.clone() };
    let fourth = store.send(&outgoing(&carol, to.clone(), None)).await.unwrap().message;
    store.remove_member(&change).await.unwrap();
    let side = stored_item(&dynamo, side_of(&carol)).await;
    assert_eq!(side["ri"].as_s().unwrap(), fourth.id.as_str());
    assert_eq!(unread(store, &carol, &id).await, (0, Some(fourth.id.to_string())));
}
