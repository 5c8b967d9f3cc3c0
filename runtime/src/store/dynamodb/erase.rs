//! Erasing an app's user on DynamoDB. Nothing indexes a user's items but their own partition
//! (`U#<user>`), so it is read whole: their memberships (`membership#<group>`, written beside
//! every membership change) say which groups to leave, their connections item which connection
//! records to delete; then their feed partition, their own partition, and last the app's id of
//! them, so an erase cut short by the deadline is finished by the next call.

use super::DynamoStore;
use super::capacity::item_size;
use super::connections::{CONNECTION, CONNECTIONS, connection_pk, listed};
use super::items::*;
use super::metrics::Tally;
use super::schema::{PK, SEQ, SK, USER};
use crate::domain::conversation::MembershipChangeKind;
use crate::domain::{AppUserId, GroupId, Rejection, UserId};
use crate::store::{Erased, MembershipChange, StoreError, StoreResult};

/// An item's key, with the item's size (what deleting it is billed by).
fn key_of(item: &Item, names: [&str; 2]) -> (Item, u64) {
    let key = names.iter().filter_map(|name| Some(((*name).to_owned(), item.get(*name)?.clone()))).collect();
    (key, item_size(item))
}

impl DynamoStore {
    pub(super) async fn erase_app_user_now(&self, app: &AppUserId, tally: &mut Tally) -> StoreResult<Option<Erased>> {
        let Some(user) = self.mapped_user(app, tally).await? else { return Ok(None) };
        let entities = &self.options.entities_table;
        let theirs = self.query_partition(entities, PK, s(user_pk(&user)), tally).await?;
        let mut connections = Vec::new();
        for item in &theirs {
            let sk = get_s(item, SK)?;
            if let Some(group) = sk.strip_prefix(MEMBERSHIP) {
                let group = GroupId::parse(group).ok_or_else(|| StoreError::unavailable("corrupt membership"))?;
                self.leave(&group, &user, tally).await?;
            } else if let Some(peer) = sk.strip_prefix(SIDE).and_then(UserId::parse) {
                // Their direct conversations take no more messages: the peer's side stays.
                self.mark_gone(&user, &peer, tally).await?;
            } else if sk == CONNECTIONS {
                connections.extend(listed(&user, item).into_iter().map(|record| record.connection));
            }
        }
        let records: Vec<(Item, u64)> =
            connections.iter().map(|c| (entity_key(connection_pk(c), CONNECTION), 64)).collect();
        self.batch_delete(entities, &records, tally).await?;
        let feed = self.query_partition(&self.options.feeds_table, USER, s(user.as_str()), tally).await?;
        let feed: Vec<_> = feed.iter().map(|item| key_of(item, [USER, SEQ])).collect();
        self.batch_delete(&self.options.feeds_table, &feed, tally).await?;
        let own: Vec<_> = theirs.iter().map(|item| key_of(item, [PK, SK])).collect();
        self.batch_delete(entities, &own, tally).await?;
        self.delete_entity(entity_key(app_user_pk(app), APP_USER), tally).await?;
        Ok(Some(Erased { user, connections }))
    }

    /// `user` leaves `group` as any member leaves (the group's list of its members' spans with
    /// it), handing it to the next member if they own it; a group they already left, or that is
    /// gone, is left alone.
    async fn leave(&self, group: &GroupId, user: &UserId, tally: &mut Tally) -> StoreResult<()> {
        let change = MembershipChange { group: group.clone(), user: user.clone(), caller: user.clone() };
        let left = self
            .change_membership(&change, MembershipChangeKind::Removed, None, tally, |found| {
                if !found.is_member(user) {
                    return Ok(false);
                }
                found.remove(user, user)?;
                Ok(true)
            })
            .await
            .map(drop);
        match left {
            Ok(()) | Err(StoreError::Rejected(Rejection::UnknownGroup)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}
