//! Delivering a message on the writer: checking its rules, storing it once, appending it to
//! each feed it is due in and recording it in its conversation.

use redb::ReadableTable;

use super::conversations;
use super::tables::*;
use crate::domain::message::Outgoing;
use crate::domain::{Recipient, Rejection, Sent, Seq, UserId};
use crate::store::StoreResult;

/// Looks up an earlier send with the same client id: `Some` when this is a replay.
pub fn replay(tables: &WriteTables<'_>, outgoing: &Outgoing) -> StoreResult<Option<Sent>> {
    let Some(client_id) = &outgoing.client_id else {
        return Ok(None);
    };
    let message = &outgoing.message;
    let key = tables.sent_by_client_id.get((message.from.as_str(), client_id.as_str())).map_err(storage)?;
    let Some(key) = key else {
        return Ok(None);
    };
    let original = read_message(&*tables.messages, key.value())?;
    if original.same_request(&message.to, &message.text) {
        Ok(Some(Sent { message: original, replayed: true, deliveries: Vec::new() }))
    } else {
        Err(Rejection::ClientIdConflict.into())
    }
}

/// Checks the rules for `outgoing` and returns the feeds it is due in.
pub fn recipients(tables: &WriteTables<'_>, outgoing: &Outgoing) -> StoreResult<Vec<UserId>> {
    let from = &outgoing.message.from;
    match &outgoing.message.to {
        Recipient::Direct(to) => {
            if tables.users.get(to.as_str()).map_err(storage)?.is_none() {
                return Err(Rejection::UnknownUser.into());
            }
            if tables.blocks.get((to.as_str(), from.as_str())).map_err(storage)?.is_some() {
                return Err(Rejection::Blocked.into());
            }
            Ok(if to == from { vec![from.clone()] } else { vec![from.clone(), to.clone()] })
        }
        Recipient::Group(group_id) => {
            let group = read_group(&*tables.groups, group_id.as_str())?.ok_or(Rejection::UnknownGroup)?;
            group.require_member(from)?;
            Ok(group.members)
        }
    }
}

/// Stores an entry's JSON once, under the next message key.
fn store_json(tables: &mut WriteTables<'_>, bytes: &[u8]) -> StoreResult<u64> {
    let key = match tables.messages.last().map_err(storage)? {
        Some((newest, _)) => newest.value() + 1,
        None => 1,
    };
    tables.messages.insert(key, bytes).map_err(storage)?;
    Ok(key)
}

/// Appends an entry (a membership entry) to `user`'s feed; its position.
pub fn append_entry(tables: &mut WriteTables<'_>, user: &UserId, bytes: &[u8]) -> StoreResult<Seq> {
    let key = store_json(tables, bytes)?;
    append(tables, user, key)
}

/// Appends the entry stored under `key` to `user`'s feed, at the position after its newest.
fn append(tables: &mut WriteTables<'_>, user: &UserId, key: u64) -> StoreResult<Seq> {
    let position = match tables.heads.get(user) {
        Some(head) => head.next(),
        None => feed_head(&*tables.feed, user.as_str())?.next(),
    };
    tables.feed.insert((user.as_str(), position.0), key).map_err(storage)?;
    tables.heads.set(user, position);
    Ok(position)
}

/// Numbers the message in its conversation, appends it to `feeds` and records it in the
/// conversation; returns the message as delivered and each feed with its position in it.
pub fn deliver(tables: &mut WriteTables<'_>, outgoing: &Outgoing, feeds: Vec<UserId>) -> StoreResult<Sent> {
    let mut message = outgoing.message.clone();
    let place = conversations::next_place(tables, &message)?;
    message.id = message.id.numbered(place.number);
    let key = store_json(tables, &encode(&message)?)?;
    let mut positions = Vec::with_capacity(feeds.len());
    for user in feeds {
        let position = append(tables, &user, key)?;
        positions.push((user, position));
    }
    if let Some(client_id) = &outgoing.client_id {
        tables.sent_by_client_id.insert((message.from.as_str(), client_id.as_str()), key).map_err(storage)?;
    }
    conversations::record_message(tables, &message, key, place)?;
    Ok(Sent { message, replayed: false, deliveries: positions })
}
