//! Groups: one item each, written only on an unchanged `version` (optimistic concurrency), and
//! beside it the markers of multi-chunk sends to the group still being delivered.

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::capacity::{Read, item_size, read_units};
use super::items::*;
use super::metrics::{Kind, Tally};
use super::retry::Contention;
use super::schema::SK;
use super::{DynamoStore, sdk_error};
use crate::domain::{ClientId, Group, GroupId, MessageId, Rejection, UserId};
use crate::store::{StoreError, StoreResult};

/// A multi-chunk send to a group that has not reached every member yet.
pub(super) struct PendingSend {
    pub message: MessageId,
    pub sender: UserId,
    pub key: ClientId,
}

/// A group as loaded: the group, its version, and its sends still being delivered.
pub(super) struct LoadedGroup {
    pub group: Group,
    pub version: u64,
    pub pending: Vec<PendingSend>,
}

impl DynamoStore {
    pub(super) async fn load_group(&self, id: &GroupId, tally: &mut Tally) -> StoreResult<Option<(Group, u64)>> {
        Ok(self.load_group_and_pending(id, tally).await?.map(|loaded| (loaded.group, loaded.version)))
    }

    /// The group item and its pending-send markers, in one consistent `Query` of the group's
    /// partition: billed like reading the group item alone while no send is pending.
    pub(super) async fn load_group_and_pending(
        &self,
        id: &GroupId,
        tally: &mut Tally,
    ) -> StoreResult<Option<LoadedGroup>> {
        let query = self
            .client
            .query()
            .table_name(&self.options.entities_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(group_pk(id)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let output = Self::call(tally, Kind::Read, || query.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Read, output.consumed_capacity());
        tally.bill_read(read_units(output.items().iter().map(item_size).sum(), Read::Strong));
        let mut loaded = None;
        let mut pending = Vec::new();
        for item in output.items() {
            let sk = get_s(item, SK)?;
            if sk == GROUP {
                tally.remember(&self.options.entities_table, &entity_key(group_pk(id), GROUP), item_size(item));
                loaded = Some(group_from_item(id, item)?);
            } else if let Some(message) = sk.strip_prefix(PENDING) {
                let message =
                    MessageId::parse(message).ok_or_else(|| StoreError::unavailable("corrupt pending send"))?;
                let sender =
                    UserId::parse(get_s(item, "sender")?).ok_or_else(|| StoreError::unavailable("corrupt sender"))?;
                pending.push(PendingSend { message, sender, key: ClientId::from_stored(get_s(item, "key")?) });
            }
        }
        Ok(loaded.map(|(group, version)| LoadedGroup { group, version, pending }))
    }

    /// Notes beside `user`'s other items that they joined (or left) `group`, after the group's
    /// own write: a crash between the two leaves a membership an erase does not find (the user
    /// stays in that group's list), never a note of a membership that did not happen.
    pub(super) async fn note_membership(
        &self,
        user: &UserId,
        group: &GroupId,
        member: bool,
        tally: &mut Tally,
    ) -> StoreResult<()> {
        let key = entity_key(user_pk(user), membership_sk(group));
        if member { self.put_entity(key, None, tally).await } else { self.delete_entity(key, tally).await }
    }

    /// Writes `group` if its stored version is still `version`; `false` if it changed meanwhile.
    /// Each write carries a token of its own: a retry finding its own earlier write stored (see
    /// `put_if`) must not take a competitor's identical write for it.
    async fn put_group(&self, group: &Group, version: u64, tally: &mut Tally) -> StoreResult<bool> {
        let mut item = group_item(group, version + 1);
        item.insert(WRITER.into(), s(uuid::Uuid::new_v4().simple().to_string()));
        let put =
            self.client.put_item().condition_expression("version = :v").expression_attribute_values(":v", n(version));
        self.put_if(put, &self.options.entities_table, item, tally).await
    }

    /// Applies `change` to the group (starting from `loaded` if the caller already read it) until
    /// the write lands on an unchanged version; `change` returns whether there is anything to write.
    /// Sends to the group left unfinished by a caller that died are finished first, so that a
    /// member removed now still receives what was sent to them before.
    pub(super) async fn update_group(
        &self,
        id: &GroupId,
        mut loaded: Option<(Group, u64)>,
        tally: &mut Tally,
        mut change: impl FnMut(&mut Group) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let mut retry = tally.retry();
        loop {
            let (mut group, version) = match loaded.take() {
                Some(loaded) => loaded,
                None => {
                    let found = self.load_group_and_pending(id, tally).await?.ok_or(Rejection::UnknownGroup)?;
                    self.finish_pending(id, &found.pending, tally).await?;
                    (found.group, found.version)
                }
            };
            if !change(&mut group)? || self.put_group(&group, version, tally).await? {
                return Ok(());
            }
            retry.back_off(Contention::Conflict).await?;
        }
    }
}
