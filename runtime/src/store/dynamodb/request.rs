//! The only code that sends requests to DynamoDB: each helper builds its request, retries it
//! within the operation's deadline, counts it and bills it by DynamoDB's rules, so the
//! operations in the other modules say *what* they read and write, and none can forget to bill.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    DeleteRequest, KeysAndAttributes, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    WriteRequest,
};

use super::capacity::{Read, item_size, read_units, write_units};
use super::items::*;
use super::metrics::{Kind, Tally};
use super::retry::{self, Contention};
use super::schema::{SEQ, USER};
use super::{DynamoStore, Outcome, sdk_error};
use crate::domain::UserId;
use crate::store::{StoreError, StoreResult};

/// What a `BatchGetItem` reads of each item: the projection, its attribute names, and the size of
/// what it leaves out that DynamoDB bills anyway (a key attribute).
#[derive(Clone)]
pub(super) struct Projection<'a> {
    pub expression: &'a str,
    pub names: &'a [(&'a str, &'a str)],
    pub omitted_bytes: u64,
}

impl DynamoStore {
    /// One transaction. Its `ClientRequestToken` is new for every call and the same for the SDK's
    /// retries of it, so an attempt that was applied but whose answer was lost is not applied
    /// again: DynamoDB answers the retry as a success.
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>, tally: &mut Tally) -> StoreResult<Outcome> {
        self.bill_transaction(&items, tally);
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let mut retry = tally.retry();
        loop {
            let result = tally.deadline.bound(request.clone().send()).await?;
            match result {
                Ok(output) => {
                    tally.request(Kind::Write, output.consumed_capacity());
                    return Ok(Outcome::Committed);
                }
                Err(error) => {
                    tally.request(Kind::Write, None);
                    match error.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                            return Ok(Outcome::Cancelled(cancelled.cancellation_reasons().to_vec()));
                        }
                        // An earlier attempt with this token (one the SDK gave up waiting for) is
                        // still being applied: asking again with the same token, once it is done,
                        // answers with its outcome instead of applying it twice.
                        Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                            retry.back_off(Contention::Conflict).await?;
                        }
                        // Throttled or failed as a whole, beyond the SDK's retries: again, with
                        // the same token (if it was applied after all, DynamoDB says so).
                        _ => match retry::contention(&error) {
                            Some(why) => retry.back_off(why).await?,
                            None => return Err(sdk_error(error)),
                        },
                    }
                }
            }
        }
    }

    pub(super) async fn get_entity(&self, pk: String, sk: &str, tally: &mut Tally) -> StoreResult<Option<Item>> {
        let key = entity_key(pk, sk);
        let request = self
            .client
            .get_item()
            .table_name(&self.options.entities_table)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let output = Self::call(tally, Kind::Read, || request.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Read, output.consumed_capacity());
        let size = output.item.as_ref().map_or(0, item_size);
        tally.bill_read(read_units(size, Read::Strong));
        if output.item.is_some() {
            tally.remember(&self.options.entities_table, &key, size);
        }
        Ok(output.item)
    }

    /// Current heads of `users`' feeds (0 for a feed never written), by batched consistent reads.
    pub(super) async fn heads(&self, users: &[UserId], tally: &mut Tally) -> StoreResult<HashMap<UserId, u64>> {
        let mut heads: HashMap<UserId, u64> = users.iter().map(|u| (u.clone(), 0)).collect();
        let keys = users.iter().map(|u| feed_key(u, HEAD_SEQ)).collect();
        // The projection leaves out `seq`, a key attribute: its size is billed all the same.
        let seq_size = item_size(&HashMap::from([(SEQ.to_owned(), n(HEAD_SEQ))]));
        let projection = Projection { expression: "#u, head", names: &[("#u", USER)], omitted_bytes: seq_size };
        for item in self.batch_get(&self.options.feeds_table, keys, Some(projection), tally).await? {
            let user = UserId::parse(get_s(&item, USER)?).ok_or_else(|| StoreError::unavailable("bad head"))?;
            heads.insert(user, get_n(&item, "head")?);
        }
        Ok(heads)
    }

    /// The items at `keys` of `table` (those that exist), by consistent `BatchGetItem`s of 100
    /// keys, asking again for the keys DynamoDB left unprocessed (it sheds load that way:
    /// throttling) within the deadline. Every key is billed a block of its own, found or not.
    pub(super) async fn batch_get(
        &self,
        table: &str,
        keys: Vec<Item>,
        projection: Option<Projection<'_>>,
        tally: &mut Tally,
    ) -> StoreResult<Vec<Item>> {
        let mut found = Vec::new();
        for batch in keys.chunks(100) {
            let mut got = self.batch_get_tables(vec![(table, batch.to_vec(), projection.clone())], tally).await?;
            found.append(&mut got[0]);
        }
        Ok(found)
    }

    /// As [`DynamoStore::batch_get`], from several tables in one `BatchGetItem` (at most 100
    /// keys in all): the items found, table by table in the order asked.
    pub(super) async fn batch_get_tables(
        &self,
        wanted: Vec<(&str, Vec<Item>, Option<Projection<'_>>)>,
        tally: &mut Tally,
    ) -> StoreResult<Vec<Vec<Item>>> {
        let mut found = vec![Vec::new(); wanted.len()];
        let mut pending: Vec<Vec<Item>> = wanted.iter().map(|(_, keys, _)| keys.clone()).collect();
        let mut retry = tally.retry();
        while pending.iter().any(|keys| !keys.is_empty()) {
            let mut call = self.client.batch_get_item().return_consumed_capacity(ReturnConsumedCapacity::Total);
            for ((table, _, projection), keys) in wanted.iter().zip(&pending) {
                if keys.is_empty() {
                    continue;
                }
                let mut request = KeysAndAttributes::builder().set_keys(Some(keys.clone())).consistent_read(true);
                if let Some(projection) = projection {
                    request = request.projection_expression(projection.expression);
                    for (name, attribute) in projection.names {
                        request = request.expression_attribute_names(*name, *attribute);
                    }
                }
                call = call.request_items(*table, request.build().map_err(StoreError::unavailable)?);
            }
            let output = Self::call(tally, Kind::Read, || call.clone().send()).await?.map_err(sdk_error)?;
            tally.request(Kind::Read, output.consumed_capacity());
            for (index, (table, _, projection)) in wanted.iter().enumerate() {
                let asked = pending[index].len();
                let items = output.responses().and_then(|r| r.get(*table)).map_or(&[][..], Vec::as_slice);
                pending[index] = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(*table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                let omitted = projection.as_ref().map_or(0, |p| p.omitted_bytes);
                let found_units: f64 = items.iter().map(|i| read_units(item_size(i) + omitted, Read::Strong)).sum();
                let missing = asked.saturating_sub(pending[index].len() + items.len()) as f64;
                tally.bill_read(found_units + missing * read_units(0, Read::Strong));
                found[index].extend_from_slice(items);
            }
            if pending.iter().any(|keys| !keys.is_empty()) {
                retry.back_off(Contention::Throttled).await?;
            }
        }
        Ok(found)
    }

    /// The entity items under `pk` whose sort key starts with `prefix` (a user's blocks, their
    /// sessions), every page of them.
    pub(super) async fn query_entities(&self, pk: String, prefix: &str, tally: &mut Tally) -> StoreResult<Vec<Item>> {
        let query = self
            .client
            .query()
            .table_name(&self.options.entities_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix));
        self.query_all(query, tally).await
    }

    /// Every item of one partition of `table` (`pk_name` = `pk`), every page of them.
    pub(super) async fn query_partition(
        &self,
        table: &str,
        pk_name: &str,
        pk: AttributeValue,
        tally: &mut Tally,
    ) -> StoreResult<Vec<Item>> {
        let query = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", pk);
        self.query_all(query, tally).await
    }

    /// Every page of `query`, read consistently; each page billed by the whole items it read.
    async fn query_all(&self, query: QueryFluentBuilder, tally: &mut Tally) -> StoreResult<Vec<Item>> {
        let query = query.consistent_read(true).return_consumed_capacity(ReturnConsumedCapacity::Total);
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = query.clone().set_exclusive_start_key(start);
            let output = Self::call(tally, Kind::Read, || page.clone().send()).await?.map_err(sdk_error)?;
            tally.request(Kind::Read, output.consumed_capacity());
            tally.bill_read(read_units(output.items().iter().map(item_size).sum(), Read::Strong));
            start = output.last_evaluated_key;
            items.extend(output.items.unwrap_or_default());
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Deletes `items` (each a key and the size of the item there, which the delete is billed by)
    /// from `table` by `BatchWriteItem`s of 25, sending again what DynamoDB left unprocessed (it
    /// sheds load that way) within the deadline. Deleting an item that is gone is no error.
    pub(super) async fn batch_delete(&self, table: &str, items: &[(Item, u64)], tally: &mut Tally) -> StoreResult<()> {
        for batch in items.chunks(25) {
            tally.bill_write(batch.iter().map(|(_, size)| write_units(*size, false)).sum());
            let mut requests = batch
                .iter()
                .map(|(key, _)| {
                    let delete = DeleteRequest::builder().set_key(Some(key.clone())).build();
                    Ok(WriteRequest::builder().delete_request(delete.map_err(StoreError::unavailable)?).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let mut retry = tally.retry();
            while !requests.is_empty() {
                let call = self
                    .client
                    .batch_write_item()
                    .request_items(table, requests)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total);
                let output = Self::call(tally, Kind::Write, || call.clone().send()).await?.map_err(sdk_error)?;
                tally.request(Kind::Write, output.consumed_capacity());
                requests = output.unprocessed_items().and_then(|u| u.get(table)).cloned().unwrap_or_default();
                if !requests.is_empty() {
                    retry.back_off(Contention::Throttled).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes the entity item at `key`, an item that is its key alone or nearly (a block, a
    /// connection record): the delete is billed by the key's size.
    pub(super) async fn delete_entity(&self, key: Item, tally: &mut Tally) -> StoreResult<()> {
        tally.bill_write(write_units(item_size(&key), false));
        let delete = self
            .client
            .delete_item()
            .table_name(&self.options.entities_table)
            .set_key(Some(key))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let output = Self::call(tally, Kind::Write, || delete.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Write, output.consumed_capacity());
        Ok(())
    }

    /// Puts an entity item, on `condition` when given. Only freshly generated ids are put on a
    /// condition, so a failed one is a lost answer of our own or a collision that cannot happen.
    pub(super) async fn put_entity(&self, item: Item, condition: Option<&str>, tally: &mut Tally) -> StoreResult<()> {
        let put = self.client.put_item().set_condition_expression(condition.map(str::to_owned));
        if self.put_if(put, &self.options.entities_table, item, tally).await? {
            Ok(())
        } else {
            Err(StoreError::unavailable("an entity with a newly generated id exists"))
        }
    }

    /// Puts `item` into `table` with `put`'s condition; `false` if the condition failed.
    ///
    /// A retried put whose first attempt was applied but whose answer was lost (a timeout, a 500)
    /// fails its condition on the item it wrote itself. The failure returns the stored item, and
    /// finding ours there means the put is done, not refused — otherwise a removal would be
    /// re-applied to a group the member has already left, and answer `member_not_found`.
    pub(super) async fn put_if(
        &self,
        put: PutItemFluentBuilder,
        table: &str,
        item: Item,
        tally: &mut Tally,
    ) -> StoreResult<bool> {
        self.bill_put(table, &item, tally);
        let put = put
            .table_name(table)
            .set_item(Some(item.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        match Self::call(tally, Kind::Write, || put.clone().send()).await? {
            Ok(output) => {
                tally.request(Kind::Write, output.consumed_capacity());
                Ok(true)
            }
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    tally.request(Kind::Write, None);
                    Ok(failed.item() == Some(&item))
                }
                _ => Err(sdk_error(error)),
            },
        }
    }

    /// One request (not a transaction), retried while it meets contention within the deadline:
    /// throttling and 5xx beyond what the SDK retried, and for single-item writes
    /// `TransactionConflictException` — DynamoDB's answer to a write on an item that a
    /// transaction in progress holds (the SDK does not retry it), and a send's transaction
    /// condition-checks the group and block items that membership changes and blocks write.
    /// Returns the last answer, which is not contention.
    pub(super) async fn call<T, E, F>(
        tally: &mut Tally,
        kind: Kind,
        mut send: impl FnMut() -> F,
    ) -> StoreResult<Result<T, SdkError<E, HttpResponse>>>
    where
        F: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        let mut retry = tally.retry();
        loop {
            let result = tally.deadline.bound(send()).await?;
            match result.as_ref().err().and_then(retry::contention) {
                Some(why) => {
                    tally.request(kind, None);
                    retry.back_off(why).await?;
                }
                None => return Ok(result),
            }
        }
    }
}
