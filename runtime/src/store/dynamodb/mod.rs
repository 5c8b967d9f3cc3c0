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
//! `Query` only read-committed isolation, not a snapshot: in theory it could read position N just
//! before N's transaction commits and N+1 just after N+1's commits. A poll therefore stops at the
//! first gap in the positions it got back, unless the entry after the gap was written more than
//! [`GAP_GRACE`] ago — then the missing entries were committed long before the poll started, so
//! they are not in flight but gone (expired by the optional TTL).
//!
//! # Request budget
//! A poll is exactly one request. The other operations' counts are fixed and documented in the
//! README; [`metrics::Metrics`] counts requests and consumed capacity per operation.
//!
//! # Atomicity of large group sends
//! One transaction holds at most 100 items, so a group send to more than [`CHUNK`] members is
//! delivered in several transactions. With a `client_id`, the first transaction also records the
//! recipients and every later one advances a progress counter, so a send that died midway is
//! completed exactly once when retried with the same `client_id`. Without a `client_id` a send
//! that dies midway stays partial: clients that need all-or-nothing for large groups send a
//! `client_id` and retry.

pub mod items;
pub mod metrics;
pub mod schema;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    CancellationReason, ConditionCheck, KeysAndAttributes, Put, ReturnConsumedCapacity, TransactWriteItem, Update,
};

use self::items::*;
use self::metrics::{Kind, Metrics, Tally};
use self::schema::{SEQ, SK, TTL, USER};
use super::{MembershipChange, Store, StoreError, StoreResult};
use crate::domain::message::Outgoing;
use crate::domain::{
    ClientId, FeedPage, Group, GroupId, Message, MessageJson, Recipient, Rejection, Sent, Seq, User, UserId,
};

/// Members per transaction of a group send: two items each (head and entry), leaving room for
/// the group check, the send record and the recipients record within DynamoDB's 100 items.
pub const CHUNK: usize = 48;
/// See the module docs: a gap in positions older than this is expiry, not a write in flight.
pub const GAP_GRACE: Duration = Duration::from_secs(30);
/// Attempts of one operation against conditional-write conflicts (not SDK retries, which the
/// SDK's standard retry mode does underneath for throttling and transient errors).
const MAX_ATTEMPTS: u32 = 60;

#[derive(Clone, Debug)]
pub struct DynamoOptions {
    pub entities_table: String,
    pub feeds_table: String,
    /// Feed entries expire this many days after delivery; 0 keeps them forever.
    pub feed_ttl_days: u32,
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

fn now_millis() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// Exponential back-off with full jitter before retrying a conflicting write: writers racing for
/// the same feed head spread out instead of colliding again in lockstep.
async fn back_off(attempt: u32) {
    let ceiling = (1_000u64 << attempt.min(7)).min(100_000); // µs: 1 ms doubling up to 100 ms
    let mut random = [0u8; 4];
    let _ = getrandom::fill(&mut random);
    let micros = u64::from(u32::from_le_bytes(random)) % ceiling;
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

enum Outcome {
    Committed,
    Cancelled(Vec<CancellationReason>),
}

impl DynamoStore {
    /// Builds the store over an SDK client made once at start-up.
    pub fn new(client: Client, options: DynamoOptions) -> Self {
        Self { client, options, metrics: Arc::default() }
    }

    /// A client from the environment (credentials, region), with the standard retry mode, and
    /// `endpoint` instead of AWS when given (an emulator).
    pub async fn client(endpoint: Option<&str>) -> Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
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

    async fn transact(&self, items: Vec<TransactWriteItem>, tally: &mut Tally) -> StoreResult<Outcome> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(output) => {
                tally.request(Kind::Write, output.consumed_capacity());
                Ok(Outcome::Committed)
            }
            Err(error) => {
                tally.request(Kind::Write, None);
                match error.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                        Ok(Outcome::Cancelled(cancelled.cancellation_reasons().to_vec()))
                    }
                    _ => Err(sdk_error(error)),
                }
            }
        }
    }

    async fn get_entity(&self, pk: String, sk: &str, tally: &mut Tally) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.options.entities_table)
            .set_key(Some(entity_key(pk, sk)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(sdk_error)?;
        tally.request(Kind::Read, output.consumed_capacity());
        Ok(output.item)
    }

    async fn load_group(&self, id: &GroupId, tally: &mut Tally) -> StoreResult<Option<(Group, u64)>> {
        match self.get_entity(group_pk(id), GROUP, tally).await? {
            Some(item) => group_from_item(id, &item).map(Some),
            None => Ok(None),
        }
    }

    /// Current heads of `users`' feeds (0 for a feed never written), by batched consistent reads.
    async fn heads(&self, users: &[UserId], tally: &mut Tally) -> StoreResult<HashMap<UserId, u64>> {
        let mut heads: HashMap<UserId, u64> = users.iter().map(|u| (u.clone(), 0)).collect();
        for batch in users.chunks(100) {
            let mut keys: Vec<Item> = batch.iter().map(|u| feed_key(u, HEAD_SEQ)).collect();
            let mut attempt = 0;
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .projection_expression("#u, head")
                    .expression_attribute_names("#u", USER)
                    .build()
                    .map_err(StoreError::unavailable)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.options.feeds_table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                tally.request(Kind::Read, output.consumed_capacity());
                for item in output.responses().and_then(|r| r.get(&self.options.feeds_table)).into_iter().flatten() {
                    let user = UserId::parse(get_s(item, USER)?).ok_or_else(|| StoreError::unavailable("bad head"))?;
                    heads.insert(user, get_n(item, "head")?);
                }
                keys = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.options.feeds_table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    back_off(attempt).await;
                    attempt += 1;
                }
            }
        }
        Ok(heads)
    }

    /// The two items that append `message` to `user`'s feed at `head + 1`, conditioned on the
    /// head still being `head`.
    fn append(&self, user: &UserId, head: u64, message: &MessageJson, at: u64) -> StoreResult<[TransactWriteItem; 2]> {
        let condition = if head == HEAD_SEQ { "attribute_not_exists(head)" } else { "head = :h" };
        let mut update = Update::builder()
            .table_name(&self.options.feeds_table)
            .set_key(Some(feed_key(user, HEAD_SEQ)))
            .update_expression("SET head = :n")
            .condition_expression(condition)
            .expression_attribute_values(":n", n(head + 1));
        if head != HEAD_SEQ {
            update = update.expression_attribute_values(":h", n(head));
        }
        let mut entry = feed_key(user, head + 1);
        entry.insert("message".into(), s(String::from_utf8_lossy(message.as_bytes())));
        entry.insert("at".into(), n(at));
        if self.options.feed_ttl_days > 0 {
            let expires = at / 1000 + u64::from(self.options.feed_ttl_days) * 86_400;
            entry.insert(TTL.into(), n(expires));
        }
        let put = Put::builder().table_name(&self.options.feeds_table).set_item(Some(entry));
        Ok([
            TransactWriteItem::builder().update(update.build().map_err(StoreError::unavailable)?).build(),
            TransactWriteItem::builder().put(put.build().map_err(StoreError::unavailable)?).build(),
        ])
    }

    fn condition_check(&self, key: Item, condition: &str, values: Option<Item>) -> StoreResult<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The record of a send with a `client_id`: the message, and how many of its transactions
    /// (`chunks`) have committed (`done`).
    fn send_record(&self, message: &Message, client_id: &ClientId, chunks: usize) -> StoreResult<TransactWriteItem> {
        let mut item = entity_key(user_pk(&message.from), sent_sk(client_id));
        item.insert("message".into(), s(String::from_utf8_lossy(MessageJson::encode(message).as_bytes())));
        item.insert("chunks".into(), n(chunks));
        item.insert("done".into(), n(1));
        let put = Put::builder()
            .table_name(&self.options.entities_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn progress(&self, message: &Message, client_id: &ClientId, done: usize) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(entity_key(user_pk(&message.from), sent_sk(client_id))))
            .update_expression("SET done = :next")
            .condition_expression("done = :done")
            .expression_attribute_values(":done", n(done))
            .expression_attribute_values(":next", n(done + 1))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// An earlier send with this `client_id`: the original message if it is the same request
    /// (completing its delivery first if it died midway), a conflict otherwise, `None` if there
    /// was none.
    async fn replay(&self, outgoing: &Outgoing, client_id: &ClientId, tally: &mut Tally) -> StoreResult<Option<Sent>> {
        let message = &outgoing.message;
        let Some(record) = self.get_entity(user_pk(&message.from), &sent_sk(client_id), tally).await? else {
            return Ok(None);
        };
        let original = MessageJson::from_stored(get_s(&record, "message")?.as_bytes())
            .and_then(|json| json.decode())
            .map_err(|e| StoreError::unavailable(format!("corrupt send record: {e}")))?;
        if !original.same_request(&message.to, &message.text) {
            return Err(Rejection::ClientIdConflict.into());
        }
        let (chunks, done) = (get_n(&record, "chunks")? as usize, get_n(&record, "done")? as usize);
        if done < chunks {
            let recipients = self
                .get_entity(user_pk(&message.from), &recipients_sk(client_id), tally)
                .await?
                .ok_or_else(|| StoreError::unavailable("send record without recipients"))?;
            let recipients = user_list(&recipients, "recipients")?;
            let json = MessageJson::encode(&original);
            self.deliver_chunks(&original, &json, Some(client_id), &recipients, done, tally).await?;
        }
        Ok(Some(Sent { message: original, replayed: true }))
    }

    /// Delivers chunks `from..` of `recipients` (chunk 0 is always delivered by the caller),
    /// advancing the send record with each when there is a `client_id`.
    async fn deliver_chunks(
        &self,
        message: &Message,
        json: &MessageJson,
        client_id: Option<&ClientId>,
        recipients: &[UserId],
        from: usize,
        tally: &mut Tally,
    ) -> StoreResult<()> {
        for (index, chunk) in recipients.chunks(CHUNK).enumerate().skip(from) {
            let mut attempt = 0;
            loop {
                let heads = self.heads(chunk, tally).await?;
                let at = now_millis();
                let mut items = Vec::with_capacity(chunk.len() * 2 + 1);
                for user in chunk {
                    items.extend(self.append(user, heads[user], json, at)?);
                }
                if let Some(client_id) = client_id {
                    items.push(self.progress(message, client_id, index)?);
                }
                match self.transact(items, tally).await? {
                    Outcome::Committed => break,
                    Outcome::Cancelled(reasons) => {
                        // Someone else (a concurrent retry) advanced this send: it is theirs now.
                        if client_id.is_some() && failed(&reasons, chunk.len() * 2) {
                            return Ok(());
                        }
                    }
                }
                attempt += 1;
                if attempt == MAX_ATTEMPTS {
                    return Err(StoreError::unavailable("feed contention: retry the send with its client_id"));
                }
                back_off(attempt).await;
            }
        }
        Ok(())
    }

    async fn send_direct(&self, outgoing: &Outgoing, to: &UserId, tally: &mut Tally) -> StoreResult<Sent> {
        let message = &outgoing.message;
        let json = MessageJson::encode(message);
        let feeds: Vec<UserId> =
            if to == &message.from { vec![to.clone()] } else { vec![message.from.clone(), to.clone()] };
        for attempt in 0..MAX_ATTEMPTS {
            let heads = self.heads(&feeds, tally).await?;
            let at = now_millis();
            let mut items = Vec::with_capacity(7);
            for user in &feeds {
                items.extend(self.append(user, heads[user], &json, at)?);
            }
            let checks = items.len();
            let (profile, block) = (entity_key(user_pk(to), PROFILE), entity_key(user_pk(to), block_sk(&message.from)));
            items.push(self.condition_check(profile, "attribute_exists(pk)", None)?);
            items.push(self.condition_check(block, "attribute_not_exists(pk)", None)?);
            if let Some(client_id) = &outgoing.client_id {
                items.push(self.send_record(message, client_id, 1)?);
            }
            match self.transact(items, tally).await? {
                Outcome::Committed => return Ok(Sent { message: message.clone(), replayed: false }),
                Outcome::Cancelled(reasons) => {
                    if let Some(client_id) = &outgoing.client_id
                        && failed(&reasons, checks + 2)
                        && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                    {
                        return Ok(sent);
                    }
                    if failed(&reasons, checks) {
                        return Err(Rejection::UnknownUser.into());
                    }
                    if failed(&reasons, checks + 1) {
                        return Err(Rejection::Blocked.into());
                    }
                }
            }
            back_off(attempt).await;
        }
        Err(StoreError::unavailable("feed contention: retry the send with its client_id"))
    }

    async fn send_group(&self, outgoing: &Outgoing, group_id: &GroupId, tally: &mut Tally) -> StoreResult<Sent> {
        let message = &outgoing.message;
        let json = MessageJson::encode(message);
        for attempt in 0..MAX_ATTEMPTS {
            let (group, version) = self.load_group(group_id, tally).await?.ok_or(Rejection::UnknownGroup)?;
            if !group.is_member(&message.from) {
                // A replay wins over a removal that happened after the original send.
                if let Some(client_id) = &outgoing.client_id
                    && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                {
                    return Ok(sent);
                }
                return Err(Rejection::NotMember.into());
            }
            let recipients = group.members;
            let chunks = recipients.len().div_ceil(CHUNK);
            let first = &recipients[..recipients.len().min(CHUNK)];
            let heads = self.heads(first, tally).await?;
            let at = now_millis();
            let mut items = Vec::with_capacity(first.len() * 2 + 3);
            for user in first {
                items.extend(self.append(user, heads[user], &json, at)?);
            }
            let group_check = items.len();
            let unchanged = HashMap::from([(":v".to_owned(), n(version))]);
            items.push(self.condition_check(entity_key(group_pk(group_id), GROUP), "version = :v", Some(unchanged))?);
            if let Some(client_id) = &outgoing.client_id {
                items.push(self.send_record(message, client_id, chunks)?);
                if chunks > 1 {
                    let mut record = entity_key(user_pk(&message.from), recipients_sk(client_id));
                    record.insert("recipients".into(), users_attribute(&recipients));
                    let put = Put::builder()
                        .table_name(&self.options.entities_table)
                        .set_item(Some(record))
                        .build()
                        .map_err(StoreError::unavailable)?;
                    items.push(TransactWriteItem::builder().put(put).build());
                }
            }
            match self.transact(items, tally).await? {
                Outcome::Committed => {
                    self.deliver_chunks(message, &json, outgoing.client_id.as_ref(), &recipients, 1, tally).await?;
                    return Ok(Sent { message: message.clone(), replayed: false });
                }
                Outcome::Cancelled(reasons) => {
                    if let Some(client_id) = &outgoing.client_id
                        && failed(&reasons, group_check + 1)
                        && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                    {
                        return Ok(sent);
                    }
                    // Otherwise a head moved or the membership changed: read both again.
                }
            }
            back_off(attempt).await;
        }
        Err(StoreError::unavailable("feed contention: retry the send with its client_id"))
    }

    /// Puts an entity that must not exist yet. Ids are random, so the condition only guards
    /// against a bug overwriting a user or group.
    async fn put_new_entity(&self, item: Item, tally: &mut Tally) -> StoreResult<()> {
        let output = self
            .client
            .put_item()
            .table_name(&self.options.entities_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(sdk_error)?;
        tally.request(Kind::Write, output.consumed_capacity());
        Ok(())
    }

    /// Writes `group` if its stored version is still `version`; `false` if it changed meanwhile.
    async fn put_group(&self, group: &Group, version: u64, tally: &mut Tally) -> StoreResult<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.options.entities_table)
            .set_item(Some(group_item(group, version + 1)))
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
    async fn update_group(
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

    fn finish<T>(&self, operation: &'static str, tally: Tally, result: StoreResult<T>) -> StoreResult<T> {
        self.metrics.add(operation, tally);
        result
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut tally = Tally::default();
        let mut item = entity_key(user_pk(&user.id), PROFILE);
        item.insert("name".into(), s(user.name.as_str()));
        let result = self.put_new_entity(item, &mut tally).await;
        self.finish("create_user", tally, result)
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let mut tally = Tally::default();
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
        let mut tally = Tally::default();
        let result = async {
            // Users are never deleted, so checking first and writing after cannot race.
            if self.get_entity(user_pk(target), PROFILE, &mut tally).await?.is_none() {
                return Err(Rejection::UnknownUser.into());
            }
            let output = self
                .client
                .put_item()
                .table_name(&self.options.entities_table)
                .set_item(Some(entity_key(user_pk(blocker), block_sk(target))))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(sdk_error)?;
            tally.request(Kind::Write, output.consumed_capacity());
            Ok(())
        }
        .await;
        self.finish("block", tally, result)
    }

    async fn unblock(&self, blocker: &UserId, target: &UserId) -> StoreResult<()> {
        let mut tally = Tally::default();
        let result = self
            .client
            .delete_item()
            .table_name(&self.options.entities_table)
            .set_key(Some(entity_key(user_pk(blocker), block_sk(target))))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|output| tally.request(Kind::Write, output.consumed_capacity()))
            .map_err(sdk_error);
        self.finish("unblock", tally, result)
    }

    async fn blocked(&self, blocker: &UserId) -> StoreResult<Vec<UserId>> {
        let mut tally = Tally::default();
        let result = async {
            let mut blocked = Vec::new();
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.options.entities_table)
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":pk", s(user_pk(blocker)))
                    .expression_attribute_values(":prefix", s("block#"))
                    .projection_expression(SK)
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                tally.request(Kind::Read, output.consumed_capacity());
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
        let mut tally = Tally::default();
        let result = self.put_new_entity(group_item(group, 1), &mut tally).await;
        self.finish("create_group", tally, result)
    }

    async fn group(&self, id: &GroupId) -> StoreResult<Option<Group>> {
        let mut tally = Tally::default();
        let result = self.load_group(id, &mut tally).await.map(|found| found.map(|(group, _)| group));
        self.finish("get_group", tally, result)
    }

    async fn add_member(&self, change: &MembershipChange, max_members: usize) -> StoreResult<()> {
        let mut tally = Tally::default();
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
        let mut tally = Tally::default();
        let result = self
            .update_group(&change.group, None, &mut tally, |group| {
                group.remove(&change.caller, &change.user)?;
                Ok(true)
            })
            .await;
        self.finish("remove_member", tally, result)
    }

    async fn send(&self, outgoing: &Outgoing) -> StoreResult<Sent> {
        let mut tally = Tally::default();
        let (operation, result) = match &outgoing.message.to {
            Recipient::Direct(to) => ("send_direct", self.send_direct(outgoing, to, &mut tally).await),
            Recipient::Group(group) => ("send_group", self.send_group(outgoing, group, &mut tally).await),
        };
        self.finish(operation, tally, result)
    }

    async fn feed(&self, user: &UserId, after: Seq, limit: usize) -> StoreResult<FeedPage> {
        let mut tally = Tally::default();
        let result = async {
            let output = self
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
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(sdk_error)?;
            tally.request(Kind::Read, output.consumed_capacity());
            let settled_before = now_millis().saturating_sub(GAP_GRACE.as_millis() as u64);
            let mut entries = Vec::with_capacity(limit.min(output.items().len()));
            let mut expected = after.next();
            // DynamoDB stopped early at 1 MB, or there were more than `limit` entries.
            let mut has_more = output.last_evaluated_key().is_some() || output.items().len() > limit;
            for item in output.items() {
                let seq = Seq(get_n(item, SEQ)?);
                if entries.len() == limit {
                    break;
                }
                if seq != expected && get_n(item, "at")? > settled_before {
                    has_more = true; // an earlier position may still be committing: stop before it
                    break;
                }
                let json = MessageJson::from_stored(get_s(item, "message")?.as_bytes())
                    .map_err(|e| StoreError::unavailable(format!("corrupt feed entry: {e}")))?;
                entries.push((seq, json));
                expected = seq.next();
            }
            Ok(FeedPage { entries, has_more })
        }
        .await;
        self.finish("poll", tally, result)
    }
}
