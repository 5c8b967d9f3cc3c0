//! Records of open WebSocket connections (API Gateway's, on Lambda), so that a send can push its
//! message to its recipients' connections. In the entities table:
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `C#<connection>` | `connection` | `user`, `session`, `expires`, `since`, `m`, `ttl` |
//! | `U#<user>` | `connections` | `c#<connection>` → `{session, expires, since, m}` for each, `ttl` |
//!
//! `m` (true, present only then) marks a connection that asked for membership entries.
//!
//! A send reads the per-user item of every recipient, 100 to a `BatchGetItem`, and pushes to the
//! connections whose access token (`expires`) has not expired; `$disconnect` and `$default` events
//! name only the connection, so its own item says whose it is and until when. Each connection is
//! an attribute of its own in the per-user item (not an element of a set), so that a `reauth`
//! moves one connection's expiry and a logout finds the connections of one session.
//!
//! API Gateway ends every connection after two hours, and its `$disconnect` is best effort: each
//! item's `ttl` is [`CONNECTION_LIFETIME`] after the newest connection it lists, so once it passes
//! every connection it lists is gone. DynamoDB deletes expired items only eventually (within days),
//! so readers treat an item past its `ttl` as absent, and a new connection replaces such an item
//! instead of adding to it. Connections that died unannounced are dropped when a push to them
//! answers 410.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use super::capacity::{item_size, write_units};
use super::items::*;
use super::metrics::{Kind, Op, Tally};
use super::schema::{PK, TTL};
use super::{DynamoStore, now_secs, sdk_error};
use crate::domain::{ConnectionId, Rule, SessionId, UserId};
use crate::store::connections::{ConnectionRecord, Connections};
use crate::store::{StoreError, StoreResult};

/// API Gateway's limit on a WebSocket connection's life, and a margin for clocks and for two
/// connections of one user recorded in the opposite order.
pub const CONNECTION_LIFETIME: Duration =
    Duration::from_secs(contract::limits::WEBSOCKET_CONNECTION_LIMIT.as_secs() + 300);

pub(super) const CONNECTION: &str = "connection";
pub(super) const CONNECTIONS: &str = "connections";
/// The prefix of a connection's attribute in its user's `connections` item.
pub(super) const CONNECTION_ATTRIBUTE: &str = "c#";
const SESSION: &str = "session";
const EXPIRES: &str = "expires";
const SINCE: &str = "since";
/// Present (true) on a connection that asked for membership entries.
const MEMBERSHIP: &str = "m";
/// The user item's generation: moved on by every connection added under `connections_per_user`.
const GENERATION: &str = "g";

pub(super) fn connection_pk(connection: &ConnectionId) -> String {
    format!("C#{connection}")
}

/// The connection's own item: whose it is, its session and expiry, when it was recorded, and its
/// `ttl` (`expires`, the end of API Gateway's lifetime).
fn own_item(record: &ConnectionRecord, expires: u64) -> Item {
    let mut own = entity_key(connection_pk(&record.connection), CONNECTION);
    own.insert("user".into(), s(record.user.as_str()));
    own.insert(SESSION.into(), s(record.session.as_str()));
    own.insert(EXPIRES.into(), n(record.expires_at));
    own.insert(SINCE.into(), n(record.connected_at));
    if record.membership {
        own.insert(MEMBERSHIP.into(), AttributeValue::Bool(true));
    }
    own.insert(TTL.into(), n(expires));
    own
}

/// A connection's entry in its user's item: its session, its token's expiry, when it was
/// recorded, and whether it asked for membership entries.
fn entry(record: &ConnectionRecord) -> AttributeValue {
    let mut entry = Item::from([
        (SESSION.to_owned(), s(record.session.as_str())),
        (EXPIRES.to_owned(), n(record.expires_at)),
        (SINCE.to_owned(), n(record.connected_at)),
    ]);
    if record.membership {
        entry.insert(MEMBERSHIP.to_owned(), AttributeValue::Bool(true));
    }
    AttributeValue::M(entry)
}

/// Whether a connection's attributes mark it as asking for membership entries.
fn wants_membership(attributes: &Item) -> bool {
    attributes.get(MEMBERSHIP).is_some_and(|value| value.as_bool() == Ok(&true))
}

fn attribute(connection: &ConnectionId) -> String {
    format!("{CONNECTION_ATTRIBUTE}{connection}")
}

fn corrupt(what: &str) -> StoreError {
    StoreError::unavailable(format!("bad {what} item"))
}

/// The connections a user's `connections` item lists. An entry that does not parse is skipped
/// (and logged), not an error: one bad record must not cost every recipient of a send its push.
pub(super) fn listed(user: &UserId, item: &Item) -> Vec<ConnectionRecord> {
    let entry = |name: &str, value: &AttributeValue| -> StoreResult<ConnectionRecord> {
        let entry = value.as_m().map_err(|_| corrupt("connections"))?;
        Ok(ConnectionRecord {
            user: user.clone(),
            connection: ConnectionId::parse(name).ok_or_else(|| corrupt("connections"))?,
            session: SessionId::parse(get_s(entry, SESSION)?).ok_or_else(|| corrupt("connections"))?,
            expires_at: get_n(entry, EXPIRES)?,
            connected_at: get_n(entry, SINCE)?,
            membership: wants_membership(entry),
        })
    };
    let parsed = item.iter().filter_map(|(name, value)| Some((name.strip_prefix(CONNECTION_ATTRIBUTE)?, value)));
    parsed
        .filter_map(|(name, value)| {
            entry(name, value)
                .inspect_err(|error| tracing::warn!(%error, %user, connection = name, "skipped a connection record"))
                .ok()
        })
        .collect()
}

#[async_trait]
impl Connections for DynamoStore {
    async fn open_connection(&self, record: &ConnectionRecord) -> StoreResult<()> {
        let mut tally = self.account();
        let result = self.record_connection(record, &mut tally).await;
        self.record(Op::Connect, tally, result)
    }

    async fn connection_owner(&self, connection: &ConnectionId) -> StoreResult<Option<ConnectionRecord>> {
        let mut tally = self.account();
        let result = self.owner(connection, &mut tally).await;
        self.record(Op::ConnectionOwner, tally, result)
    }

    /// The connection's own item, then its entry in the user's item: two writes, each on the
    /// condition that the connection is still recorded.
    async fn extend_connection(&self, record: &ConnectionRecord) -> StoreResult<bool> {
        let mut tally = self.account();
        let result = async {
            let own = self
                .client
                .update_item()
                .set_key(Some(entity_key(connection_pk(&record.connection), CONNECTION)))
                .update_expression("SET #s = :session, #e = :expires")
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#s", SESSION)
                .expression_attribute_names("#e", EXPIRES)
                .expression_attribute_values(":session", s(record.session.as_str()))
                .expression_attribute_values(":expires", n(record.expires_at));
            let mut written = entity_key(connection_pk(&record.connection), CONNECTION);
            written
                .extend([(SESSION.to_owned(), s(record.session.as_str())), (EXPIRES.to_owned(), n(record.expires_at))]);
            tally.bill_write(write_units(item_size(&written), false));
            if !self.update_if(own, &mut tally).await? {
                return Ok(false);
            }
            let listed = self
                .client
                .update_item()
                .set_key(Some(entity_key(user_pk(&record.user), CONNECTIONS)))
                .update_expression("SET #c.#s = :session, #c.#e = :expires")
                .condition_expression("attribute_exists(#c)")
                .expression_attribute_names("#c", attribute(&record.connection))
                .expression_attribute_names("#s", SESSION)
                .expression_attribute_names("#e", EXPIRES)
                .expression_attribute_values(":session", s(record.session.as_str()))
                .expression_attribute_values(":expires", n(record.expires_at));
            let mut written = entity_key(user_pk(&record.user), CONNECTIONS);
            written.insert(attribute(&record.connection), entry(record));
            self.bill_put(&self.options.entities_table, &written, &mut tally);
            self.update_if(listed, &mut tally).await
        }
        .await;
        self.record(Op::ExtendConnection, tally, result)
    }

    async fn close_connection(&self, connection: &ConnectionId) -> StoreResult<Option<UserId>> {
        let mut tally = self.account();
        let result = async {
            let owner = self.owner(connection, &mut tally).await?.map(|record| record.user);
            if let Some(user) = &owner {
                self.remove_connection(user, connection, &mut tally).await?;
            }
            Ok(owner)
        }
        .await;
        self.record(Op::Disconnect, tally, result)
    }

    async fn forget_connection(&self, user: &UserId, connection: &ConnectionId) -> StoreResult<()> {
        let mut tally = self.account();
        let result = self.remove_connection(user, connection, &mut tally).await;
        self.record(Op::ForgetConnection, tally, result)
    }

    /// By strongly consistent reads: a connection whose `$connect` has returned is seen by every
    /// send that commits afterwards.
    async fn open_connections(&self, users: &[UserId]) -> StoreResult<Vec<ConnectionRecord>> {
        let mut tally = self.account();
        let result = self.read_connections(users, &mut tally).await;
        self.record(Op::PushLookup, tally, result)
    }
}

impl DynamoStore {
    async fn record_connection(&self, record: &ConnectionRecord, tally: &mut Tally) -> StoreResult<()> {
        if let Some(limit) = self.options.limits.of(Rule::ConnectionsPerUser) {
            return self.record_within(record, limit, tally).await;
        }
        let (now, expires) = (now_secs(), now_secs() + CONNECTION_LIFETIME.as_secs());
        self.put_entity(own_item(record, expires), None, tally).await?;

        // Added to the user's live item; an item past its `ttl` lists only dead connections and is
        // replaced instead.
        let key = entity_key(user_pk(&record.user), CONNECTIONS);
        let mut written = key.clone();
        written.insert(attribute(&record.connection), entry(record));
        written.insert(TTL.into(), n(expires));
        let add = self
            .client
            .update_item()
            .set_key(Some(key))
            .update_expression("SET #c = :entry, #t = :expires")
            .condition_expression("attribute_not_exists(#t) OR #t > :now")
            .expression_attribute_names("#c", attribute(&record.connection))
            .expression_attribute_names("#t", TTL)
            .expression_attribute_values(":entry", entry(record))
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":now", n(now));
        self.bill_put(&self.options.entities_table, &written, tally);
        if !self.update_if(add, tally).await? {
            self.put_entity(written, None, tally).await?;
        }
        Ok(())
    }

    /// Records a connection unless its user has `limit` open already (then nothing is recorded):
    /// the user's item is read, its connections that can still be open counted (those recorded
    /// within API Gateway's lifetime: one whose `$disconnect` was lost counts until then), and
    /// the connection added on the condition that the item's generation `g` — which every
    /// addition moves on — is still the one read. Two connects at once: one adds, the other
    /// reads again and counts the first. Then the connection's own item.
    async fn record_within(&self, record: &ConnectionRecord, limit: u32, tally: &mut Tally) -> StoreResult<()> {
        const ATTEMPTS: usize = 4;
        let (now, expires) = (now_secs(), now_secs() + CONNECTION_LIFETIME.as_secs());
        let key = entity_key(user_pk(&record.user), CONNECTIONS);
        for _ in 0..ATTEMPTS {
            let live = self.get_entity(user_pk(&record.user), CONNECTIONS, tally).await?.filter(|item| {
                // Past its lifetime (or without one): none of it is open, and it is replaced.
                get_n(item, TTL).is_ok_and(|ttl| ttl > now)
            });
            let open = live.as_ref().map_or(0, |item| {
                let lifetime = CONNECTION_LIFETIME.as_secs();
                listed(&record.user, item).iter().filter(|c| c.connected_at + lifetime > now).count()
            });
            if open >= limit as usize {
                return Err(super::limits::refused(Rule::ConnectionsPerUser, now));
            }
            let mut written = key.clone();
            written.insert(attribute(&record.connection), entry(record));
            written.insert(TTL.into(), n(expires));
            let added = match &live {
                None => {
                    written.insert(GENERATION.into(), n(1));
                    let replace = self
                        .client
                        .put_item()
                        .condition_expression("attribute_not_exists(#pk) OR #t <= :now")
                        .expression_attribute_names("#pk", PK)
                        .expression_attribute_names("#t", TTL)
                        .expression_attribute_values(":now", n(now));
                    self.put_if(replace, &self.options.entities_table, written, tally).await?
                }
                Some(item) => {
                    let seen = get_n(item, GENERATION).unwrap_or(0);
                    let condition = if seen == 0 { "attribute_not_exists(#g)" } else { "#g = :seen" };
                    let mut add = self
                        .client
                        .update_item()
                        .set_key(Some(key.clone()))
                        .update_expression("SET #c = :entry, #t = :expires, #g = :next")
                        .condition_expression(condition)
                        .expression_attribute_names("#c", attribute(&record.connection))
                        .expression_attribute_names("#t", TTL)
                        .expression_attribute_names("#g", GENERATION)
                        .expression_attribute_values(":entry", entry(record))
                        .expression_attribute_values(":expires", n(expires))
                        .expression_attribute_values(":next", n(seen + 1));
                    if seen != 0 {
                        add = add.expression_attribute_values(":seen", n(seen));
                    }
                    let mut after = item.clone();
                    after.extend(written);
                    self.bill_put(&self.options.entities_table, &after, tally);
                    self.update_if(add, tally).await?
                }
            };
            if added {
                return self.put_entity(own_item(record, expires), None, tally).await;
            }
        }
        Err(StoreError::unavailable("the user's connections changed at every attempt"))
    }

    /// Sends an update of the entities table on its condition; `false` if the condition failed.
    /// Billed by the caller when it knows the item's size better than the key's.
    pub(super) async fn update_if(&self, update: UpdateItemFluentBuilder, tally: &mut Tally) -> StoreResult<bool> {
        let update =
            update.table_name(&self.options.entities_table).return_consumed_capacity(ReturnConsumedCapacity::Total);
        match Self::call(tally, Kind::Write, || update.clone().send()).await? {
            Ok(output) => {
                tally.request(Kind::Write, output.consumed_capacity());
                Ok(true)
            }
            Err(error)
                if matches!(error.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) =>
            {
                tally.request(Kind::Write, None);
                Ok(false)
            }
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn owner(&self, connection: &ConnectionId, tally: &mut Tally) -> StoreResult<Option<ConnectionRecord>> {
        let Some(item) = self.get_entity(connection_pk(connection), CONNECTION, tally).await? else {
            return Ok(None);
        };
        // Past API Gateway's lifetime; or recorded by a version before sessions, which did not
        // say by which session: the client reconnects either way.
        if get_n(&item, TTL)? <= now_secs() || !item.contains_key(SESSION) {
            return Ok(None);
        }
        Ok(Some(ConnectionRecord {
            user: UserId::parse(get_s(&item, "user")?).ok_or_else(|| corrupt("connection"))?,
            connection: connection.clone(),
            session: SessionId::parse(get_s(&item, SESSION)?).ok_or_else(|| corrupt("connection"))?,
            expires_at: get_n(&item, EXPIRES)?,
            connected_at: get_n(&item, SINCE)?,
            membership: wants_membership(&item),
        }))
    }

    async fn remove_connection(&self, user: &UserId, connection: &ConnectionId, tally: &mut Tally) -> StoreResult<()> {
        let key = entity_key(user_pk(user), CONNECTIONS);
        tally.bill_write(write_units(item_size(&key), false));
        // On the item existing: an update creates the item it names, and a removal from a user
        // item that is gone (expired, erased) would leave a bare one behind.
        let remove = self
            .client
            .update_item()
            .set_key(Some(key))
            .update_expression("REMOVE #c")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#c", attribute(connection))
            .expression_attribute_names("#pk", PK);
        self.update_if(remove, tally).await?;
        self.delete_entity(entity_key(connection_pk(connection), CONNECTION), tally).await
    }

    async fn read_connections(&self, users: &[UserId], tally: &mut Tally) -> StoreResult<Vec<ConnectionRecord>> {
        let now = now_secs();
        let mut distinct: Vec<&UserId> = users.iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let keys = distinct.iter().map(|user| entity_key(user_pk(user), CONNECTIONS)).collect();
        let mut open = Vec::new();
        for item in self.batch_get(&self.options.entities_table, keys, None, tally).await? {
            // Past its lifetime (or without one, which only a damaged item lacks): none of it live.
            if get_n(&item, TTL).map_or(true, |ttl| ttl <= now) {
                continue;
            }
            if let Some(user) = get_s(&item, PK).ok().and_then(|pk| pk.strip_prefix("U#")).and_then(UserId::parse) {
                open.extend(listed(&user, &item));
            }
        }
        Ok(open)
    }
}
