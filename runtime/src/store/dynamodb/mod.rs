//! The cloud backend: two DynamoDB tables (see [`schema`]), on-demand.
//!
//! # How the cursor invariant holds
//! Each feed has a head item (`seq = 0`) holding its newest position. A send reads the heads of
//! the feeds it writes to, then in **one transaction** moves each head from N−1 to N *on the
//! condition that it is still N−1* and puts the entry at position N. So position N is created
//! only by the transaction that moved the head off N−1, which could only start after the
//! transaction that wrote N−1 had committed: positions are dense and committed in order. If two
//! senders race for the same position, one transaction is cancelled and retries with fresh heads.
//!
//! A poll is one strongly consistent `Query` for positions after the cursor. DynamoDB promises a
//! `Query` only read-committed isolation, not a snapshot: a transaction's items become visible
//! one by one, so a `Query` can return position N+1 while N (committed by an earlier transaction)
//! is not visible to it yet. A poll therefore stops at the first gap in the positions it got back
//! and says `has_more`: the reader comes straight back and finds N. Without retention (the
//! default) that is the only way a gap can arise, so a gap is never skipped.
//!
//! With retention, a gap can also be entries that the TTL deleted — and those never come back,
//! so stopping there would stall the feed for good. Such a gap is skipped only when it **can**
//! be expired entries: the entry before it is within [`EXPIRY_MARGIN`] (hours) of its own expiry,
//! or gone too, judged by the entries' own timestamps against the retention of days — a write in
//! flight is milliseconds old, hours away from that — and, as a second guard, the entry after the
//! gap is over [`GAP_SETTLE`] old by the reader's clock. The one poll that finds a gap at the
//! start of its page reads the entry before it (one `GetItem`); every other poll is one request.
//!
//! # Request budget
//! A poll is one request (two when it meets a gap with retention on, above). The other operations' counts are fixed and documented in the
//! README; [`metrics::Metrics`] counts requests and consumed capacity per operation.
//!
//! # Atomicity of large group sends
//! One transaction holds at most 100 items, so a group send to more than [`CHUNK`] members is
//! delivered in several transactions. With a `client_id`, the first transaction also records the
//! recipients and every later one advances a progress counter, so a send that died midway is
//! completed exactly once when retried with the same `client_id`. Without a `client_id` a send
//! that dies midway stays partial: clients that need all-or-nothing for large groups send a
//! `client_id` and retry.

pub mod capacity;
mod connections;
mod groups;
pub mod items;
pub mod metrics;
pub mod retry;
pub mod schema;
mod send;

pub use self::connections::CONNECTION_LIFETIME;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    CancellationReason, KeysAndAttributes, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};

use self::capacity::{Read, item_size, read_units, write_units};
use self::items::*;
use self::metrics::{Kind, Metrics, Tally};
use self::retry::Contention;
use self::schema::{PK, SEQ, SK, USER};
use super::{MembershipChange, Store, StoreError, StoreResult};
use crate::domain::message::Outgoing;
use crate::domain::{FeedPage, Group, GroupId, MessageJson, Recipient, Rejection, Sent, Seq, User, UserId};

/// Members per transaction of a group send: two items each (head and entry), leaving room for
/// the group check, the send record and the recipients record within DynamoDB's 100 items.
/// Largest group on this backend: the group item lists its members and must stay under
/// DynamoDB's 400 KB item limit (about 11,000 ids of 34 characters), with room to spare. Both are
/// the contract's, because the cost model prices them.
pub use contract::limits::{CHUNK, MAX_GROUP_SIZE};
/// A gap in a feed is skipped only when the entry before it is within this of its own expiry
/// (see the module docs): hours, against transactions that become visible in milliseconds and
/// clocks that differ by seconds.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(6 * 3600);
/// And only when the entry after the gap is older than this by the reader's clock, as a second
/// guard: a transaction's items become visible within milliseconds.
pub const GAP_SETTLE: Duration = Duration::from_secs(60);
/// The condition of a new user or group: ids are random, so it only guards against a bug
/// overwriting one.
const NEW: Option<&str> = Some("attribute_not_exists(pk)");

#[derive(Clone, Debug)]
pub struct DynamoOptions {
    pub entities_table: String,
    pub feeds_table: String,
    /// Feed entries expire this many days after delivery; 0 keeps them forever.
    pub feed_ttl_days: u32,
    /// The time one store operation may take, retries included ([`retry::OPERATION_BUDGET`]
    /// unless a test against a serialised emulator needs longer).
    pub operation_budget: Duration,
}

impl DynamoOptions {
    pub fn new(entities_table: String, feeds_table: String, feed_ttl_days: u32) -> Self {
        Self { entities_table, feeds_table, feed_ttl_days, operation_budget: retry::OPERATION_BUDGET }
    }
}

pub struct DynamoStore {
    client: Client,
    options: DynamoOptions,
    metrics: Arc<Metrics>,
}

fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(error: SdkError<E, R>) -> StoreError {
    StoreError::unavailable(DisplayErrorContext(error))
}

fn failed(reasons: &[CancellationReason], index: usize) -> bool {
    reasons.get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
}

/// Whether the cancellation says, item by item, what happened. DynamoDB documents that it does:
/// "Cancellation reasons will be ordered in the same order of resources in the request. If no
/// error occurred for the associated item an error with a Null code and Null message will be
/// present" (TransactWriteItems, TransactionCanceledException, in the DynamoDB API Reference).
/// Where a list is shorter than the request anyway, the callers read the send record instead
/// of trusting it.
fn itemised(reasons: &[CancellationReason], items: usize) -> bool {
    reasons.len() == items
}

fn now_millis() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

enum Outcome {
    Committed,
    /// With DynamoDB's reasons, one per item of the request.
    Cancelled(Vec<CancellationReason>),
}

impl DynamoStore {
    /// Builds the store over an SDK client made once at start-up.
    pub fn new(client: Client, options: DynamoOptions) -> Self {
        Self { client, options, metrics: Arc::default() }
    }

    /// The SDK's retries and timeouts for this store: the standard retry mode, which retries
    /// throttling and transient errors, with back-off short enough to fit the operation budget,
    /// and an attempt timeout so a lost answer is retried rather than waited for.
    pub fn retry_config() -> aws_config::retry::RetryConfig {
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(4)
            .with_initial_backoff(Duration::from_millis(20))
            .with_max_backoff(Duration::from_secs(1))
    }

    /// Each attempt gets a sixth of the operation budget (2 s of the default 12 s), so that a
    /// lost answer leaves time to ask again; a longer budget (an emulator that serialises
    /// requests) gives attempts proportionally longer.
    pub fn timeout_config(budget: Duration) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(retry::attempt_timeout(budget))
            .build()
    }

    /// A client from the environment (credentials, region), with [`Self::retry_config`] and
    /// [`Self::timeout_config`] for `budget`, and `endpoint` instead of AWS when given.
    pub async fn client(endpoint: Option<&str>, budget: Duration) -> Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(Self::retry_config())
            .timeout_config(Self::timeout_config(budget));
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        Client::new(&loader.load().await)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn options(&self) -> &DynamoOptions {
        &self.options
    }

    /// One transaction. Its `ClientRequestToken` is new for every call and the same for the SDK's
    /// retries of it, so an attempt that was applied but whose answer was lost is not applied
    /// again: DynamoDB answers the retry as a success.
    async fn transact(&self, items: Vec<TransactWriteItem>, tally: &mut Tally) -> StoreResult<Outcome> {
        self.bill_transaction(&items, tally);
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let mut attempt = 0;
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
                            tally.deadline.back_off(attempt, Contention::Conflict).await?;
                            attempt += 1;
                        }
                        // Throttled or failed as a whole, beyond the SDK's retries: again, with
                        // the same token (if it was applied after all, DynamoDB says so).
                        _ => match retry::contention(&error) {
                            Some(why) => {
                                tally.deadline.back_off(attempt, why).await?;
                                attempt += 1;
                            }
                            None => return Err(sdk_error(error)),
                        },
                    }
                }
            }
        }
    }

    async fn get_entity(&self, pk: String, sk: &str, tally: &mut Tally) -> StoreResult<Option<Item>> {
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
    async fn heads(&self, users: &[UserId], tally: &mut Tally) -> StoreResult<HashMap<UserId, u64>> {
        let mut heads: HashMap<UserId, u64> = users.iter().map(|u| (u.clone(), 0)).collect();
        for batch in users.chunks(100) {
            let mut keys: Vec<Item> = batch.iter().map(|u| feed_key(u, HEAD_SEQ)).collect();
            let mut attempt = 0;
            while !keys.is_empty() {
                let asked = keys.len();
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .projection_expression("#u, head")
                    .expression_attribute_names("#u", USER)
                    .build()
                    .map_err(StoreError::unavailable)?;
                let call = self
                    .client
                    .batch_get_item()
                    .request_items(&self.options.feeds_table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total);
                let output = Self::call(tally, Kind::Read, || call.clone().send()).await?.map_err(sdk_error)?;
                tally.request(Kind::Read, output.consumed_capacity());
                let found =
                    output.responses().and_then(|r| r.get(&self.options.feeds_table)).map_or(&[][..], Vec::as_slice);
                let unprocessed = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.options.feeds_table))
                    .map_or(0, |k| k.keys().len());
                // BatchGetItem rounds every item on its own; a key with no item still costs a block.
                // The projection leaves out `seq`, a key attribute: its size is added back.
                let seq_size = item_size(&HashMap::from([(SEQ.to_owned(), n(HEAD_SEQ))]));
                let found_units: f64 = found.iter().map(|i| read_units(item_size(i) + seq_size, Read::Strong)).sum();
                let missing = asked.saturating_sub(unprocessed + found.len()) as f64;
                tally.bill_read(found_units + missing * read_units(0, Read::Strong));
                for item in found {
                    let user = UserId::parse(get_s(item, USER)?).ok_or_else(|| StoreError::unavailable("bad head"))?;
                    heads.insert(user, get_n(item, "head")?);
                }
                keys = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.options.feeds_table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    // Unprocessed keys are DynamoDB shedding load: throttling.
                    tally.deadline.back_off(attempt, Contention::Throttled).await?;
                    attempt += 1;
                }
            }
        }
        Ok(heads)
    }

    /// Deletes the entity item at `key`, an item that is its key alone or nearly (a block, a
    /// connection record): the delete is billed by the key's size.
    async fn delete_entity(&self, key: Item, tally: &mut Tally) -> StoreResult<()> {
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
    async fn put_entity(&self, item: Item, condition: Option<&str>, tally: &mut Tally) -> StoreResult<()> {
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
    async fn put_if(&self, put: PutItemFluentBuilder, table: &str, item: Item, tally: &mut Tally) -> StoreResult<bool> {
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
    async fn call<T, E, F>(
        tally: &mut Tally,
        kind: Kind,
        mut send: impl FnMut() -> F,
    ) -> StoreResult<Result<T, SdkError<E, HttpResponse>>>
    where
        F: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata,
    {
        let mut attempt = 0;
        loop {
            let result = tally.deadline.bound(send()).await?;
            match result.as_ref().err().and_then(retry::contention) {
                Some(why) => {
                    tally.request(kind, None);
                    tally.deadline.back_off(attempt, why).await?;
                    attempt += 1;
                }
                None => return Ok(result),
            }
        }
    }

    /// Whether the positions missing before an entry written at `after_gap` can only be entries
    /// that expired (see the module docs): retention is on, the entry before the gap (written at
    /// `before_gap`; `None` when it is gone too or there is none) is within [`EXPIRY_MARGIN`] of
    /// its own expiry, and the entry after the gap is over [`GAP_SETTLE`] old.
    fn gap_is_expired(&self, before_gap: Option<u64>, after_gap: u64) -> bool {
        if self.options.feed_ttl_days == 0 {
            return false;
        }
        let now = now_millis();
        let retention = u64::from(self.options.feed_ttl_days) * 86_400_000;
        let near_expiry = before_gap.is_none_or(|at| at + retention <= now + EXPIRY_MARGIN.as_millis() as u64);
        near_expiry && after_gap + (GAP_SETTLE.as_millis() as u64) < now
    }

    /// When the feed entry at `seq` was written, or `None` if there is none (position 0, or an
    /// entry that expired).
    async fn entry_written_at(&self, user: &UserId, seq: Seq, tally: &mut Tally) -> StoreResult<Option<u64>> {
        if seq == Seq::START {
            return Ok(None);
        }
        let request = self
            .client
            .get_item()
            .table_name(&self.options.feeds_table)
            .set_key(Some(feed_key(user, seq.0)))
            .projection_expression("#at")
            .expression_attribute_names("#at", "at")
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let output = Self::call(tally, Kind::Read, || request.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Read, output.consumed_capacity());
        tally.bill_read(read_units(output.item().map_or(0, |i| self.feed_entry_size(user, i)), Read::Strong));
        output.item().map(|item| get_n(item, "at")).transpose()
    }

    /// The size of a feed entry as stored, from the projection a poll reads (which leaves out the
    /// `user` key and the `ttl`): what the poll is billed for.
    fn feed_entry_size(&self, user: &UserId, projected: &Item) -> u64 {
        let mut stored = projected.clone();
        stored.insert(USER.to_owned(), s(user.as_str()));
        if self.options.feed_ttl_days > 0 {
            let at = get_n(projected, "at").unwrap_or(0);
            stored.insert(schema::TTL.to_owned(), n(at / 1000 + u64::from(self.options.feed_ttl_days) * 86_400));
        }
        item_size(&stored)
    }

    /// The key attributes of `item`, stored in `table`.
    fn key_of(&self, table: &str, item: &Item) -> Item {
        let names = if table == self.options.entities_table { [PK, SK] } else { [USER, SEQ] };
        names.iter().filter_map(|name| item.get(*name).map(|v| ((*name).to_owned(), v.clone()))).collect()
    }

    /// A single-item put (a failed condition is billed too), by the larger of the item before and
    /// after.
    fn bill_put(&self, table: &str, item: &Item, tally: &mut Tally) {
        let key = self.key_of(table, item);
        let size = item_size(item).max(tally.known(table, &key).unwrap_or(0));
        tally.bill_write(write_units(size, false));
        tally.remember(table, &key, item_size(item));
    }

    /// A transaction, as if it commits: every item's write at the transactional rate, by the
    /// larger of the item's size before (when this call read it) and after. A condition check is
    /// billed by the size of the item it checks.
    fn bill_transaction(&self, items: &[TransactWriteItem], tally: &mut Tally) {
        for item in items {
            let (table, key, after) = if let Some(put) = item.put() {
                (put.table_name(), self.key_of(put.table_name(), put.item()), item_size(put.item()))
            } else if let Some(update) = item.update() {
                (update.table_name(), update.key().clone(), item_size(update.key()) + capacity::assigned_size(update))
            } else if let Some(check) = item.condition_check() {
                (check.table_name(), check.key().clone(), 0)
            } else if let Some(delete) = item.delete() {
                (delete.table_name(), delete.key().clone(), 0)
            } else {
                continue;
            };
            let before = tally.known(table, &key).unwrap_or(0);
            tally.bill_write(write_units(after.max(before), true));
            if after > before {
                tally.remember(table, &key, after);
            }
        }
    }

    /// The accounts of one operation, which must end within the operation budget.
    fn tally(&self) -> Tally {
        Tally::until(retry::Deadline::after(self.options.operation_budget))
    }

    fn finish<T>(&self, operation: &'static str, tally: Tally, result: StoreResult<T>) -> StoreResult<T> {
        self.metrics.add(operation, tally);
        result
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut tally = self.tally();
        let mut item = entity_key(user_pk(&user.id), PROFILE);
        item.insert("name".into(), s(user.name.as_str()));
        let result = self.put_entity(item, NEW, &mut tally).await;
        self.finish("create_user", tally, result)
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let mut tally = self.tally();
        let result = async {
            let Some(item) = self.get_entity(user_pk(id), PROFILE, &mut tally).await? else {
                return Ok(None);
            };
            let name = crate::domain::Name::parse(get_s(&item, "name")?)
                .map_err(|_| StoreError::unavailable("corrupt user name"))?;
            Ok(Some(User { id: id.clone(), name }))
        }
        .await;
        self.finish("get_user", tally, result)
    }

    async fn block(&self, blocker: &UserId, target: &UserId) -> StoreResult<()> {
        let mut tally = self.tally();
        let result = async {
            // Users are never deleted, so checking first and writing after cannot race.
            if self.get_entity(user_pk(target), PROFILE, &mut tally).await?.is_none() {
                return Err(Rejection::UnknownUser.into());
            }
            self.put_entity(entity_key(user_pk(blocker), block_sk(target)), None, &mut tally).await
        }
        .await;
        self.finish("block", tally, result)
    }

    async fn unblock(&self, blocker: &UserId, target: &UserId) -> StoreResult<()> {
        let mut tally = self.tally();
        let result = self.delete_entity(entity_key(user_pk(blocker), block_sk(target)), &mut tally).await;
        self.finish("unblock", tally, result)
    }

    async fn blocked(&self, blocker: &UserId) -> StoreResult<Vec<UserId>> {
        let mut tally = self.tally();
        let result = async {
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
                let output = Self::call(&mut tally, Kind::Read, || query.clone().send()).await?.map_err(sdk_error)?;
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
        .await;
        self.finish("list_blocks", tally, result)
    }

    async fn create_group(&self, group: &Group) -> StoreResult<()> {
        let mut tally = self.tally();
        let result = self.put_entity(group_item(group, 1), NEW, &mut tally).await;
        self.finish("create_group", tally, result)
    }

    async fn group(&self, id: &GroupId) -> StoreResult<Option<Group>> {
        let mut tally = self.tally();
        let result = self.load_group(id, &mut tally).await.map(|found| found.map(|(group, _)| group));
        self.finish("get_group", tally, result)
    }

    async fn add_member(&self, change: &MembershipChange, max_members: usize) -> StoreResult<()> {
        let mut tally = self.tally();
        let result = async {
            let (group, version) = self.load_group(&change.group, &mut tally).await?.ok_or(Rejection::UnknownGroup)?;
            group.require_member(&change.caller)?;
            if group.is_member(&change.user) {
                return Ok(());
            }
            // Users are never deleted: once seen, the target exists for every retry below.
            if self.get_entity(user_pk(&change.user), PROFILE, &mut tally).await?.is_none() {
                return Err(Rejection::UnknownUser.into());
            }
            self.update_group(&change.group, Some((group, version)), &mut tally, |group| {
                group.require_member(&change.caller)?;
                Ok(group.admit(&change.user, max_members)?)
            })
            .await
        }
        .await;
        self.finish("add_member", tally, result)
    }

    async fn remove_member(&self, change: &MembershipChange) -> StoreResult<()> {
        let mut tally = self.tally();
        let result = self
            .update_group(&change.group, None, &mut tally, |group| {
                group.remove(&change.caller, &change.user)?;
                Ok(true)
            })
            .await;
        self.finish("remove_member", tally, result)
    }

    async fn send(&self, outgoing: &Outgoing) -> StoreResult<Sent> {
        let mut tally = self.tally();
        let (operation, result) = match &outgoing.message.to {
            Recipient::Direct(to) => ("send_direct", self.send_direct(outgoing, to, &mut tally).await),
            Recipient::Group(group) => ("send_group", self.send_group(outgoing, group, &mut tally).await),
        };
        self.finish(operation, tally, result)
    }

    async fn feed(&self, user: &UserId, after: Seq, limit: usize) -> StoreResult<FeedPage> {
        let mut tally = self.tally();
        let result = async {
            let query = self
                .client
                .query()
                .table_name(&self.options.feeds_table)
                .key_condition_expression("#u = :u AND #s > :after")
                .expression_attribute_names("#u", USER)
                .expression_attribute_names("#s", SEQ)
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":u", s(user.as_str()))
                .expression_attribute_values(":after", n(after.0))
                .projection_expression("#s, message, #at")
                .consistent_read(true)
                .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            let output = Self::call(&mut tally, Kind::Read, || query.clone().send()).await?.map_err(sdk_error)?;
            tally.request(Kind::Read, output.consumed_capacity());
            tally.bill_read(read_units(
                output.items().iter().map(|i| self.feed_entry_size(user, i)).sum(),
                Read::Strong,
            ));
            let mut entries: Vec<(Seq, MessageJson)> = Vec::with_capacity(limit.min(output.items().len()));
            // When the entry before the next one was written, if known (`None`: not read yet).
            let mut previous_at: Option<Option<u64>> = None;
            let mut expected = after.next();
            // DynamoDB stopped early at 1 MB, or there were more than `limit` entries.
            let mut has_more = output.last_evaluated_key().is_some() || output.items().len() > limit;
            for item in output.items() {
                let seq = Seq(get_n(item, SEQ)?);
                if entries.len() == limit {
                    break;
                }
                let at = get_n(item, "at")?;
                if seq != expected {
                    let before = match previous_at {
                        Some(known) => known,
                        None => self.entry_written_at(user, Seq(expected.0 - 1), &mut tally).await?,
                    };
                    if !self.gap_is_expired(before, at) {
                        has_more = true; // an earlier position may still be committing: stop before it
                        break;
                    }
                }
                let json = MessageJson::from_stored(get_s(item, "message")?.as_bytes())
                    .map_err(|e| StoreError::unavailable(format!("corrupt feed entry: {e}")))?;
                entries.push((seq, json));
                expected = seq.next();
                previous_at = Some(Some(at));
            }
            Ok(FeedPage { entries, has_more })
        }
        .await;
        self.finish("poll", tally, result)
    }
}
