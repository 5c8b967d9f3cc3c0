//! Groups: one item each, written only on an unchanged `version` (optimistic concurrency), and
//! beside it the markers of multi-chunk sends to the group still being delivered.

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::capacity::{Read, item_size, read_units};
use super::items::*;
use super::metrics::{Kind, Tally};
use super::schema::SK;
use super::send_marks::{SENT, SendMark, changed_marks, marks_of};
use super::{DynamoStore, sdk_error};
use crate::domain::{ClientId, Group, GroupId, MessageId, Rejection, UserId};
use crate::store::{StoreError, StoreResult};

/// A multi-chunk send to a group that has not reached every member yet.
pub(super) struct PendingSend {
    pub message: MessageId,
    pub sender: UserId,
    pub key: ClientId,
}

/// A group as loaded: the group, its version, its conversation's count and newest message, its
/// members' newest messages (`None`: a group from before they were kept), its size in bytes, and
/// its sends still being delivered.
pub(super) struct LoadedGroup {
    pub group: Group,
    pub version: u64,
    pub latest: u64,
    pub last: Option<String>,
    pub marks: Option<Vec<SendMark>>,
    pub size: u64,
    pub pending: Vec<PendingSend>,
}

/// The group item for `group` as changed from `loaded`: the next version, the conversation's
/// count and newest message kept, and each remaining member's newest message.
pub(super) fn stored_group(group: &Group, loaded: &LoadedGroup) -> Item {
    let mut item = group_item(group, loaded.version + 1);
    if loaded.latest > 0 {
        item.insert("n".into(), n(loaded.latest));
    }
    if let Some(last) = &loaded.last {
        item.insert("last".into(), s(last.clone()));
    }
    item.insert(SENT.into(), changed_marks(group, &loaded.group.members, loaded.marks.as_deref()));
    item
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
        let mut summary = (0, None);
        let (mut marks, mut size) = (None, 0);
        let mut pending = Vec::new();
        for item in output.items() {
            let sk = get_s(item, SK)?;
            if sk == GROUP {
                size = item_size(item);
                tally.remember(&self.options.entities_table, &entity_key(group_pk(id), GROUP), size);
                loaded = Some(group_from_item(id, item)?);
                summary = group_summary(item)?;
                marks = marks_of(item)?;
            } else if let Some(message) = sk.strip_prefix(PENDING) {
                let message =
                    MessageId::parse(message).ok_or_else(|| StoreError::unavailable("corrupt pending send"))?;
                let sender =
                    UserId::parse(get_s(item, "sender")?).ok_or_else(|| StoreError::unavailable("corrupt sender"))?;
                pending.push(PendingSend { message, sender, key: ClientId::from_stored(get_s(item, "key")?) });
            }
        }
        let (latest, last) = summary;
        Ok(loaded.map(|(group, version)| LoadedGroup { group, version, latest, last, marks, size, pending }))
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

    /// The group, with the sends to it that their callers left unfinished finished first.
    pub(super) async fn load_finished(&self, id: &GroupId, tally: &mut Tally) -> StoreResult<LoadedGroup> {
        let found = self.load_group_and_pending(id, tally).await?.ok_or(Rejection::UnknownGroup)?;
        self.finish_pending(id, &found.pending, tally).await?;
        Ok(found)
    }
}
