//! Records of open WebSocket connections (API Gateway's, on Lambda), so that a send can push its
//! message to its recipients' connections. In the entities table:
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `C#<connection>` | `connection` | `user`, `ttl` |
//! | `U#<user>` | `connections` | `ids` (string set), `ttl` |
//!
//! A send reads the per-user item of every recipient, 100 to a `BatchGetItem`; `$disconnect` and
//! `$default` events name only the connection, so its own item says whose it is.
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
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

use super::capacity::{item_size, write_units};
use super::items::*;
use super::metrics::{Kind, Op, Tally};
use super::schema::{PK, TTL};
use super::{DynamoStore, sdk_error};
use crate::domain::{ConnectionId, UserId};
use crate::store::connections::Connections;
use crate::store::{StoreError, StoreResult};

/// API Gateway's limit on a WebSocket connection's life, and a margin for clocks and for two
/// connections of one user recorded in the opposite order.
pub const CONNECTION_LIFETIME: Duration =
    Duration::from_secs(contract::limits::WEBSOCKET_CONNECTION_LIMIT.as_secs() + 300);

pub(super) const CONNECTION: &str = "connection";
pub(super) const CONNECTIONS: &str = "connections";

pub(super) fn connection_pk(connection: &ConnectionId) -> String {
    format!("C#{connection}")
}

fn now_secs() -> u64 {
    super::now_millis() / 1000
}

#[async_trait]
impl Connections for DynamoStore {
    /// Records that `connection` belongs to `user` (API Gateway's `$connect`).
    async fn open_connection(&self, user: &UserId, connection: &ConnectionId) -> StoreResult<()> {
        let mut tally = self.account();
        let result = self.record_connection(user, connection, &mut tally).await;
        self.record(Op::Connect, tally, result)
    }

    /// Whose `connection` is, if it is recorded and not past its lifetime.
    async fn connection_owner(&self, connection: &ConnectionId) -> StoreResult<Option<UserId>> {
        let mut tally = self.account();
        let result = self.owner(connection, &mut tally).await;
        self.record(Op::ConnectionOwner, tally, result)
    }

    /// Forgets `connection` (API Gateway's `$disconnect`); whose it was, if it was recorded.
    async fn close_connection(&self, connection: &ConnectionId) -> StoreResult<Option<UserId>> {
        let mut tally = self.account();
        let result = async {
            let owner = self.owner(connection, &mut tally).await?;
            if let Some(user) = &owner {
                self.remove_connection(user, connection, &mut tally).await?;
            }
            Ok(owner)
        }
        .await;
        self.record(Op::Disconnect, tally, result)
    }

    /// Forgets a connection API Gateway says is gone (a push answered 410).
    async fn forget_connection(&self, user: &UserId, connection: &ConnectionId) -> StoreResult<()> {
        let mut tally = self.account();
        let result = self.remove_connection(user, connection, &mut tally).await;
        self.record(Op::ForgetConnection, tally, result)
    }

    /// The open connections of `users`, by strongly consistent reads: a connection whose
    /// `$connect` has returned is seen by every send that commits afterwards.
    async fn open_connections(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, ConnectionId)>> {
        let mut tally = self.account();
        let result = self.read_connections(users, &mut tally).await;
        self.record(Op::PushLookup, tally, result)
    }
}

impl DynamoStore {
    async fn record_connection(&self, user: &UserId, connection: &ConnectionId, tally: &mut Tally) -> StoreResult<()> {
        let (now, expires) = (now_secs(), now_secs() + CONNECTION_LIFETIME.as_secs());
        let mut owner = entity_key(connection_pk(connection), CONNECTION);
        owner.insert("user".into(), s(user.as_str()));
        owner.insert(TTL.into(), n(expires));
        self.put_entity(owner, None, tally).await?;

        // Added to the user's live set; a set past its `ttl` lists only dead connections and is
        // replaced instead.
        let key = entity_key(user_pk(user), CONNECTIONS);
        let id = AttributeValue::Ss(vec![connection.as_str().to_owned()]);
        let mut written = key.clone();
        written.insert("ids".into(), id.clone());
        written.insert(TTL.into(), n(expires));
        self.bill_put(&self.options.entities_table, &written, tally);
        let add = self
            .client
            .update_item()
            .table_name(&self.options.entities_table)
            .set_key(Some(key))
            .update_expression("ADD ids :id SET #t = :expires")
            .condition_expression("attribute_not_exists(#t) OR #t > :now")
            .expression_attribute_names("#t", TTL)
            .expression_attribute_values(":id", id)
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":now", n(now))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        match Self::call(tally, Kind::Write, || add.clone().send()).await? {
            Ok(output) => tally.request(Kind::Write, output.consumed_capacity()),
            Err(error)
                if matches!(error.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) =>
            {
                tally.request(Kind::Write, None);
                self.put_entity(written, None, tally).await?;
            }
            Err(error) => return Err(sdk_error(error)),
        }
        Ok(())
    }

    async fn owner(&self, connection: &ConnectionId, tally: &mut Tally) -> StoreResult<Option<UserId>> {
        let Some(item) = self.get_entity(connection_pk(connection), CONNECTION, tally).await? else {
            return Ok(None);
        };
        if get_n(&item, TTL)? <= now_secs() {
            return Ok(None);
        }
        let user =
            UserId::parse(get_s(&item, "user")?).ok_or_else(|| StoreError::unavailable("bad connection item"))?;
        Ok(Some(user))
    }

    async fn remove_connection(&self, user: &UserId, connection: &ConnectionId, tally: &mut Tally) -> StoreResult<()> {
        let key = entity_key(user_pk(user), CONNECTIONS);
        tally.bill_write(write_units(item_size(&key), false));
        let remove = self
            .client
            .update_item()
            .table_name(&self.options.entities_table)
            .set_key(Some(key))
            .update_expression("DELETE ids :id")
            .expression_attribute_values(":id", AttributeValue::Ss(vec![connection.as_str().to_owned()]))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let output = Self::call(tally, Kind::Write, || remove.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Write, output.consumed_capacity());

        self.delete_entity(entity_key(connection_pk(connection), CONNECTION), tally).await
    }

    async fn read_connections(&self, users: &[UserId], tally: &mut Tally) -> StoreResult<Vec<(UserId, ConnectionId)>> {
        let now = now_secs();
        let mut distinct: Vec<&UserId> = users.iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let keys = distinct.iter().map(|user| entity_key(user_pk(user), CONNECTIONS)).collect();
        let mut open = Vec::new();
        for item in self.batch_get(&self.options.entities_table, keys, None, tally).await? {
            if get_n(&item, TTL)? <= now {
                continue;
            }
            let pk = get_s(&item, PK)?;
            let user = pk
                .strip_prefix("U#")
                .and_then(UserId::parse)
                .ok_or_else(|| StoreError::unavailable("bad connections item"))?;
            let ids = match item.get("ids") {
                Some(AttributeValue::Ss(ids)) => ids.as_slice(),
                // The set's last connection was removed: DynamoDB drops an empty set.
                _ => &[],
            };
            open.extend(ids.iter().filter_map(|id| ConnectionId::parse(id)).map(|id| (user.clone(), id)));
        }
        Ok(open)
    }
}
