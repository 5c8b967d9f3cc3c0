//! Groups: one item each, written only on an unchanged `version` (optimistic concurrency).

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::items::*;
use super::metrics::{Kind, Tally};
use super::{DynamoStore, MAX_ATTEMPTS, back_off, sdk_error};
use crate::domain::{Group, GroupId, Rejection};
use crate::store::{StoreError, StoreResult};

impl DynamoStore {
    pub(super) async fn load_group(&self, id: &GroupId, tally: &mut Tally) -> StoreResult<Option<(Group, u64)>> {
        match self.get_entity(group_pk(id), GROUP, tally).await? {
            Some(item) => group_from_item(id, &item).map(Some),
            None => Ok(None),
        }
    }

    /// Writes `group` if its stored version is still `version`; `false` if it changed meanwhile.
    async fn put_group(&self, group: &Group, version: u64, tally: &mut Tally) -> StoreResult<bool> {
        let item = group_item(group, version + 1);
        self.bill_put(&self.options.entities_table, &item, tally);
        let result = self
            .client
            .put_item()
            .table_name(&self.options.entities_table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(output) => {
                tally.request(Kind::Write, output.consumed_capacity());
                Ok(true)
            }
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                tally.request(Kind::Write, None);
                Ok(false)
            }
            Err(error) => Err(sdk_error(error)),
        }
    }

    /// Applies `change` to the group (starting from `loaded` if the caller already read it) until
    /// the write lands on an unchanged version; `change` returns whether there is anything to write.
    pub(super) async fn update_group(
        &self,
        id: &GroupId,
        mut loaded: Option<(Group, u64)>,
        tally: &mut Tally,
        mut change: impl FnMut(&mut Group) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let (mut group, version) = match loaded.take() {
                Some(loaded) => loaded,
                None => self.load_group(id, tally).await?.ok_or(Rejection::UnknownGroup)?,
            };
            if !change(&mut group)? || self.put_group(&group, version, tally).await? {
                return Ok(());
            }
            back_off(attempt).await;
        }
        Err(StoreError::unavailable("group contention: retry"))
    }
}
