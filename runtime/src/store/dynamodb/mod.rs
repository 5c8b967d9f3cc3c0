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

mod billing;
mod blocks;
pub mod capacity;
mod connections;
mod conversations;
mod erase;
mod feed;
mod groups;
mod history;
mod identity;
pub mod items;
mod limits;
mod membership;
pub mod metrics;
mod numbering;
mod read_marks;
mod request;
pub mod retry;
pub mod schema;
mod send;
mod send_marks;

pub use self::connections::CONNECTION_LIFETIME;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::CancellationReason;

use self::items::*;
use self::metrics::{Metrics, Op, Tally};
use self::schema::SK;
use super::{Appended, Erased, MembershipChange, Rotation, Store, StoreError, StoreResult};
use crate::domain::conversation::{
    ConversationDetail, HistoryFrom, HistoryPage, InboxCursor, InboxPage, MembershipChangeKind, ReadOutcome, Vouched,
};
use crate::domain::message::Outgoing;
use crate::domain::session::UnixSecs;
use crate::domain::{
    AppUserId, ConversationId, FeedPage, Group, GroupId, Name, ReadMark, Recipient, RefreshToken, Rejection, Rule,
    RuleLimits, Sent, Seq, Session, SessionId, User, UserId,
};

/// Members per transaction of a group send: two items each (head and entry), leaving room for
/// the group check, the send record and the recipients record within DynamoDB's 100 items.
/// Largest group on this backend: the group item lists its members and each one's newest message
/// and must stay under DynamoDB's 400 KB item limit (about 320 KB at 5,000 members, every one a
/// sender: see `items.rs`' tests). Both are the contract's, because the cost model prices them.
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
    /// The shared limits this store counts (all off unless set).
    pub limits: RuleLimits,
}

impl DynamoOptions {
    pub fn new(entities_table: String, feeds_table: String, feed_ttl_days: u32) -> Self {
        Self {
            entities_table,
            feeds_table,
            feed_ttl_days,
            operation_budget: retry::OPERATION_BUDGET,
            limits: RuleLimits::OFF,
        }
    }

    pub fn limited(self, limits: RuleLimits) -> Self {
        Self { limits, ..self }
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

fn now_secs() -> u64 {
    now_millis() / 1000
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

    /// The accounts of one operation, which must end within the operation budget.
    /// A new operation's accounts, with its budget cut to the request's deadline, if any.
    fn account(&self) -> Tally {
        Tally::until(retry::Deadline::after(crate::deadline::cut(self.options.operation_budget)))
    }

    /// Adds an operation's accounts to the counters, whatever its result.
    fn record<T>(&self, operation: Op, tally: Tally, result: StoreResult<T>) -> StoreResult<T> {
        self.metrics.add(operation, tally);
        result
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut tally = self.account();
        let mut item = entity_key(user_pk(&user.id), PROFILE);
        item.insert("name".into(), s(user.name.as_str()));
        let result = self.put_entity(item, NEW, &mut tally).await;
        self.record(Op::CreateUser, tally, result)
    }

    async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let mut tally = self.account();
        let result = async {
            let Some(item) = self.get_entity(user_pk(id), PROFILE, &mut tally).await? else {
                return Ok(None);
            };
            let name = crate::domain::Name::parse(get_s(&item, "name")?)
                .map_err(|_| StoreError::unavailable("corrupt user name"))?;
            Ok(Some(User { id: id.clone(), name }))
        }
        .await;
        self.record(Op::GetUser, tally, result)
    }

    async fn erase_app_user(&self, app_user: &AppUserId) -> StoreResult<Option<Erased>> {
        let mut tally = self.account();
        let result = self.erase_app_user_now(app_user, &mut tally).await;
        self.record(Op::EraseAppUser, tally, result)
    }

    async fn upsert_app_user(&self, app_user: &AppUserId, name: &Name, new_id: &UserId) -> StoreResult<User> {
        let mut tally = self.account();
        let result = self.upsert_app_user_now(app_user, name, new_id, &mut tally).await;
        self.record(Op::UpsertAppUser, tally, result)
    }

    async fn app_user(&self, app_user: &AppUserId) -> StoreResult<Option<User>> {
        let mut tally = self.account();
        let result = self.app_user_now(app_user, &mut tally).await;
        self.record(Op::GetAppUser, tally, result)
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let mut tally = self.account();
        let result = self.create_session_now(session, &mut tally).await;
        self.record(Op::CreateSession, tally, result)
    }

    async fn rotate_session(&self, presented: &RefreshToken, next: &Session, now: UnixSecs) -> StoreResult<Rotation> {
        let mut tally = self.account();
        let result = self.rotate_session_now(presented, next, now, &mut tally).await;
        self.record(Op::RefreshSession, tally, result)
    }

    async fn revoke_session(&self, user: &UserId, session: &SessionId) -> StoreResult<()> {
        let mut tally = self.account();
        let result = self.revoke_session_now(user, session, &mut tally).await;
        self.record(Op::RevokeSession, tally, result)
    }

    async fn revoke_sessions(&self, user: &UserId) -> StoreResult<()> {
        let mut tally = self.account();
        let result = self.revoke_sessions_now(user, &mut tally).await;
        self.record(Op::RevokeSessions, tally, result)
    }

    async fn block(&self, blocker: &UserId, target: &UserId) -> StoreResult<()> {
        let mut tally = self.account();
        let result = async {
            // Users are never deleted, so checking first and writing after cannot race.
            if self.get_entity(user_pk(target), PROFILE, &mut tally).await?.is_none() {
                return Err(Rejection::UnknownUser.into());
            }
            self.put_entity(entity_key(user_pk(blocker), block_sk(target)), None, &mut tally).await
        }
        .await;
        self.record(Op::Block, tally, result)
    }

    async fn unblock(&self, blocker: &UserId, target: &UserId) -> StoreResult<()> {
        let mut tally = self.account();
        let result = self.delete_entity(entity_key(user_pk(blocker), block_sk(target)), &mut tally).await;
        self.record(Op::Unblock, tally, result)
    }

    async fn blocked(&self, blocker: &UserId) -> StoreResult<Vec<UserId>> {
        let mut tally = self.account();
        let result = self.list_blocks(blocker, &mut tally).await;
        self.record(Op::ListBlocks, tally, result)
    }

    async fn create_group(&self, group: &Group) -> StoreResult<()> {
        let mut tally = self.account();
        let result = async {
            self.put_entity(group_item(group, 1), NEW, &mut tally).await?;
            // Through the API a new group has its owner alone.
            for member in &group.members {
                self.note_membership(member, &group.id, true, &mut tally).await?;
            }
            let side = self.creator_side(group, &group.owner)?;
            self.put_entity(side, None, &mut tally).await?;
            self.put_entity(Self::members_of_new(group, &group.owner), None, &mut tally).await
        }
        .await;
        self.record(Op::CreateGroup, tally, result)
    }

    async fn group(&self, id: &GroupId) -> StoreResult<Option<Group>> {
        let mut tally = self.account();
        let result = self.load_group(id, &mut tally).await.map(|found| found.map(|(group, _)| group));
        self.record(Op::GetGroup, tally, result)
    }

    async fn add_member(&self, change: &MembershipChange, max_members: usize) -> StoreResult<Option<Appended>> {
        let mut tally = self.account();
        let result = async {
            let loaded = self.load_finished(&change.group, &mut tally).await?;
            loaded.group.require_member(&change.caller)?;
            if loaded.group.is_member(&change.user) {
                return Ok(None);
            }
            // The target's profile and their block of the caller, in one request. Users are
            // erased only through the server API: once seen, the target exists for every retry.
            let keys = vec![
                entity_key(user_pk(&change.user), PROFILE),
                entity_key(user_pk(&change.user), block_sk(&change.caller)),
            ];
            let found = self.batch_get(&self.options.entities_table, keys, None, &mut tally).await?;
            let sks: Vec<&str> = found.iter().filter_map(|item| get_s(item, SK).ok()).collect();
            if !sks.contains(&PROFILE) {
                return Err(Rejection::UnknownUser.into());
            }
            // Consent: whoever blocked the caller is not added by them.
            if sks.contains(&block_sk(&change.caller).as_str()) {
                return Err(Rejection::BlockedByTarget.into());
            }
            let added = MembershipChangeKind::Added;
            self.change_membership(change, added, Some(loaded), &mut tally, |group| {
                group.require_member(&change.caller)?;
                Ok(group.admit(&change.user, max_members)?)
            })
            .await
        }
        .await;
        self.record(Op::AddMember, tally, result)
    }

    async fn remove_member(&self, change: &MembershipChange) -> StoreResult<Option<Appended>> {
        let mut tally = self.account();
        let result = async {
            self.change_membership(change, MembershipChangeKind::Removed, None, &mut tally, |group| {
                group.remove(&change.caller, &change.user)?;
                Ok(true)
            })
            .await
        }
        .await;
        self.record(Op::RemoveMember, tally, result)
    }

    async fn send(&self, outgoing: &Outgoing) -> StoreResult<Sent> {
        let mut tally = self.account();
        let (operation, result) = match &outgoing.message.to {
            Recipient::Direct(to) => (Op::SendDirect, self.send_direct(outgoing, to, &mut tally).await),
            Recipient::Group(group) => (Op::SendGroup, self.send_group(outgoing, group, &mut tally).await),
        };
        self.record(operation, tally, result)
    }

    async fn charge(&self, rule: Rule, subject: &str, amount: u32) -> StoreResult<()> {
        if self.options.limits.of(rule).is_none() {
            return Ok(());
        }
        let mut tally = self.account();
        let result = self.count(rule, subject, amount, &mut tally).await;
        self.record(Op::Charge, tally, result)
    }

    async fn inbox(&self, user: &UserId, before: Option<&InboxCursor>, limit: usize) -> StoreResult<InboxPage> {
        let mut tally = self.account();
        let result = self.inbox_now(user, before, limit, &mut tally).await;
        self.record(Op::Inbox, tally, result)
    }

    async fn history(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        from: HistoryFrom,
        vouched: Option<&Vouched>,
        limit: usize,
    ) -> StoreResult<Option<HistoryPage>> {
        let mut tally = self.account();
        let result = self.history_now(user, conversation, from, vouched, limit, &mut tally).await;
        self.record(Op::History, tally, result)
    }

    async fn mark_read(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        up_to: &ReadMark,
    ) -> StoreResult<ReadOutcome> {
        let mut tally = self.account();
        let result = self.mark_read_now(user, conversation, up_to, &mut tally).await;
        self.record(Op::MarkRead, tally, result)
    }

    async fn conversation(&self, user: &UserId, conversation: &ConversationId) -> StoreResult<ConversationDetail> {
        let mut tally = self.account();
        let result = self.conversation_now(user, conversation, &mut tally).await;
        self.record(Op::GetConversation, tally, result)
    }

    async fn feed(&self, user: &UserId, after: Seq, limit: usize) -> StoreResult<FeedPage> {
        let mut tally = self.account();
        let result = self.read_feed(user, after, limit, &mut tally).await;
        self.record(Op::Poll, tally, result)
    }
}
