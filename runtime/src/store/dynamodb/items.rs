//! Item keys and attribute conversions. Expressions always use placeholders (`#h`, `:h`), because
//! several of our attribute names (`user`, `name`, `owner`, `at`, `ttl`) are DynamoDB reserved words.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::schema::{PK, SEQ, SK, USER};
use crate::domain::{AppUserId, ClientId, Group, GroupId, MessageId, Name, SessionId, UserId};
use crate::store::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub const PROFILE: &str = "profile";
pub const GROUP: &str = "group";
/// The group item's token of the write that stored it.
pub const WRITER: &str = "writer";
/// Sort key of a feed's head item, which holds the feed's newest position.
pub const HEAD_SEQ: u64 = 0;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn user_pk(user: &UserId) -> String {
    format!("U#{user}")
}

/// The app's id of a user, mapped to ours. Its own partition: the app's ids are any string, so
/// they must not share a key space with ours.
pub fn app_user_pk(app_user: &AppUserId) -> String {
    format!("A#{}", app_user.as_str())
}

pub const APP_USER: &str = "app_user";

pub fn session_sk(session: &SessionId) -> String {
    format!("{SESSION}{session}")
}

pub const SESSION: &str = "session#";

/// A user's membership of a group, beside their other items: what an erase finds their groups by.
pub fn membership_sk(group: &GroupId) -> String {
    format!("{MEMBERSHIP}{group}")
}

pub const MEMBERSHIP: &str = "membership#";

pub fn group_pk(group: &GroupId) -> String {
    format!("G#{group}")
}

pub fn block_sk(target: &UserId) -> String {
    format!("block#{target}")
}

pub fn sent_sk(client_id: &ClientId) -> String {
    format!("sent#{}", client_id.as_str())
}

/// Its own prefix, not a suffix of the send record's key: a client id may contain any
/// character, so `sent#{id}#to` would be the send record of the client id `{id}#to`.
pub fn recipients_sk(client_id: &ClientId) -> String {
    format!("recipients#{}", client_id.as_str())
}

/// The marker, under the group, of a multi-chunk send still being delivered: whoever next loads
/// the group finishes it.
pub fn pending_sk(message: &MessageId) -> String {
    format!("{PENDING}{message}")
}

pub const PENDING: &str = "pending#";

/// The summary of the direct conversation with the shared key `pair`
/// ([`crate::domain::conversation::pair_key`]): its count, newest message, both users' names and
/// read positions.
pub fn pair_pk(pair: &str) -> String {
    format!("P#{pair}")
}

pub const PAIR: &str = "pair";

/// A conversation's numbered messages (shared key: a group id or a pair of users).
pub fn log_pk(shared: &str) -> String {
    format!("M#{shared}")
}

/// Zero-padded, so that the string sort key sorts by number.
pub fn log_sk(number: u64) -> String {
    format!("{number:020}")
}

/// In a group's log partition, sorted after every number: where each current member's span of
/// its numbers starts ([`member_attribute`], [`member_entry`]). A history page read from the top
/// of the log reads it in the same `Query`.
pub const MEMBERS: &str = "~members";

pub fn member_attribute(user: &UserId) -> String {
    format!("s_{user}")
}

/// The size of the [`MEMBERS`] item in bytes, kept in it (as of its last membership change): a
/// page reads only the caller's entry of it, and is billed for all of it.
pub const LISTING_BYTES: &str = "bytes";

/// The size a [`MEMBERS`] item records of itself; 0 if it records none.
pub fn recorded_size(list: &Item) -> Result<u64, StoreError> {
    if list.contains_key(LISTING_BYTES) { get_n(list, LISTING_BYTES) } else { Ok(0) }
}

/// The size of a [`MEMBERS`] item as stored, its own size attribute included (about 10 bytes).
pub fn listing_size(item: &Item) -> u64 {
    let counted = item.contains_key(LISTING_BYTES);
    crate::store::dynamodb::capacity::item_size(item) + if counted { 0 } else { LISTING_BYTES.len() as u64 + 5 }
}

/// A member's entry in [`MEMBERS`]: the group's count when their current span began, doubled,
/// plus one if they were a member before (whose earlier spans only their side holds).
pub fn member_entry(start: u64, earlier: bool) -> u64 {
    start.saturating_mul(2) + u64::from(earlier)
}

/// The span start and earlier stints an entry of [`MEMBERS`] records.
pub fn member_of(entry: u64) -> (u64, bool) {
    (entry / 2, entry % 2 == 1)
}

/// A user's side of a conversation, beside their other items.
pub fn side_sk(conversation: &str) -> String {
    format!("{SIDE}{conversation}")
}

pub const SIDE: &str = "conv#";

pub fn entity_key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub fn feed_key(user: &UserId, seq: u64) -> Item {
    HashMap::from([(USER.to_owned(), s(user.as_str())), (SEQ.to_owned(), n(seq))])
}

fn corrupt(what: &str) -> StoreError {
    StoreError::unavailable(format!("corrupt item: {what}"))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str).ok_or_else(|| corrupt(name))
}

pub fn get_n(item: &Item, name: &str) -> Result<u64, StoreError> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).ok_or_else(|| corrupt(name))
}

fn user_id(raw: &str) -> Result<UserId, StoreError> {
    UserId::parse(raw).ok_or_else(|| corrupt("user id"))
}

pub fn user_list(item: &Item, name: &str) -> Result<Vec<UserId>, StoreError> {
    let list = item.get(name).and_then(|v| v.as_l().ok()).ok_or_else(|| corrupt(name))?;
    list.iter().map(|v| v.as_s().map_err(|_| corrupt(name)).and_then(|raw| user_id(raw))).collect()
}

pub fn users_attribute(users: &[UserId]) -> AttributeValue {
    AttributeValue::L(users.iter().map(|u| s(u.as_str())).collect())
}

/// A new group's item: the group, the version its writes are conditioned on, and its members'
/// newest messages ([`super::send_marks`]).
pub fn group_item(group: &Group, version: u64) -> Item {
    let mut item = entity_key(group_pk(&group.id), GROUP);
    item.insert("name".into(), s(group.name.as_str()));
    item.insert("owner".into(), s(group.owner.as_str()));
    item.insert("members".into(), users_attribute(&group.members));
    item.insert("version".into(), n(version));
    item.insert(super::send_marks::SENT.into(), super::send_marks::new_marks(group));
    item
}

/// The group's message count and newest message, kept on the group item (0 and `None` for a
/// group without messages).
pub fn group_summary(item: &Item) -> Result<(u64, Option<String>), StoreError> {
    let latest = if item.contains_key("n") { get_n(item, "n")? } else { 0 };
    Ok((latest, item.get("last").and_then(|v| v.as_s().ok()).cloned()))
}

pub fn group_from_item(id: &GroupId, item: &Item) -> Result<(Group, u64), StoreError> {
    let name = Name::parse(get_s(item, "name")?).map_err(|_| corrupt("group name"))?;
    let group =
        Group { id: id.clone(), name, owner: user_id(get_s(item, "owner")?)?, members: user_list(item, "members")? };
    Ok((group, get_n(item, "version")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamodb::MAX_GROUP_SIZE;
    use crate::store::dynamodb::capacity::item_size;
    use crate::store::dynamodb::send_marks::{SENT, SendMark};

    #[test]
    fn the_largest_group_fits_in_one_item_with_room_to_spare() {
        let owner = UserId::generate();
        let mut group = Group::new(Name::parse(&"n".repeat(64)).unwrap(), owner);
        group.members.extend((1..MAX_GROUP_SIZE).map(|_| UserId::generate()));
        let mut item = group_item(&group, u64::MAX);
        let size = item_size(&item);
        assert!(size < 400 * 1024 / 2, "{size} bytes: under half of DynamoDB's 400 KB item limit");
        // With every member's newest message and the longest newest message of all.
        let marks = group.members.iter().map(|_| {
            let id = MessageId::generate().numbered(crate::domain::Number(u64::MAX));
            SendMark::At(crate::domain::ReadMark::of(&id).unwrap()).encode()
        });
        item.insert(SENT.into(), AttributeValue::L(marks.collect()));
        item.insert("n".into(), n(u64::MAX));
        item.insert("last".into(), s("x".repeat(crate::domain::Text::MAX_JSON_BYTES + 1024)));
        let size = item_size(&item);
        // About 317 KB.
        assert!(size < 350 * 1024, "{size} bytes: under DynamoDB's 400 KB item limit with 50 KB to spare");
    }

    #[test]
    fn the_members_of_the_largest_group_fit_in_one_item_after_every_number() {
        let mut item = entity_key(log_pk("g_x"), MEMBERS);
        for _ in 0..MAX_GROUP_SIZE {
            item.insert(member_attribute(&UserId::generate()), n(member_entry(u64::MAX / 4, true)));
        }
        // Some 47 bytes a member: 235 KB at the largest, a quarter under DynamoDB's 400 KB.
        let size = item_size(&item);
        assert!(size < 300 * 1024, "{size} bytes: three quarters of DynamoDB's 400 KB item limit at most");
        assert!(log_sk(u64::MAX).as_str() < MEMBERS, "sorted after every number");
        for (start, earlier) in [(0, false), (0, true), (7, false), (u64::MAX / 4, true)] {
            assert_eq!(member_of(member_entry(start, earlier)), (start, earlier));
        }
    }

    #[test]
    fn no_client_id_shares_a_key_with_another_record() {
        for raw in ["x", "x#to", "to", "recipients#x", "sent#x"] {
            let id = ClientId::parse(raw).unwrap();
            for other in ["x", "x#to", "to", "recipients#x", "sent#x"] {
                let other = ClientId::parse(other).unwrap();
                assert_ne!(sent_sk(&id), recipients_sk(&other), "{raw:?} / {other:?}");
            }
        }
        let server = ClientId::server_side(&MessageId::generate());
        assert!(ClientId::parse(server.as_str()).is_err(), "a server-side key is never a client's");
    }
}
