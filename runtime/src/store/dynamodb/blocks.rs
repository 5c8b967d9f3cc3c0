//! Blocks: one item each under the blocker, `block#<target>`, listed by one `Query`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::capacity::{Read, item_size, read_units};
use super::items::*;
use super::metrics::{Kind, Tally};
use super::schema::{PK, SK};
use super::{DynamoStore, sdk_error};
use crate::domain::UserId;
use crate::store::{StoreError, StoreResult};

impl DynamoStore {
    /// The users `blocker` has blocked, every page of them.
    pub(super) async fn list_blocks(&self, blocker: &UserId, tally: &mut Tally) -> StoreResult<Vec<UserId>> {
        let mut blocked = Vec::new();
        let mut start = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(&self.options.entities_table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(user_pk(blocker)))
                .expression_attribute_values(":prefix", s("block#"))
                .projection_expression(SK)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            let output = Self::call(tally, Kind::Read, || query.clone().send()).await?.map_err(sdk_error)?;
            tally.request(Kind::Read, output.consumed_capacity());
            // Billed by the whole items read; the projection leaves out the key's `pk`.
            let pk_size = item_size(&HashMap::from([(PK.to_owned(), s(user_pk(blocker)))]));
            tally.bill_read(read_units(output.items().iter().map(|i| item_size(i) + pk_size).sum(), Read::Strong));
            for item in output.items() {
                let target = get_s(item, SK)?.trim_start_matches("block#");
                blocked.push(UserId::parse(target).ok_or_else(|| StoreError::unavailable("corrupt block"))?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(blocked);
            }
        }
    }
}
