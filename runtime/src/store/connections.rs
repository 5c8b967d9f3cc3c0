//! Records of open API Gateway WebSocket connections, so that a send can push to its recipients'
//! connections: the storage contract push depends on, apart from [`Store`](super::Store) because
//! only a store deployed behind the WebSocket API keeps them (the DynamoDB store).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{ConnectionId, UserId};

#[async_trait]
pub trait Connections: Send + Sync {
    /// Records that `connection` belongs to `user` (API Gateway's `$connect`).
    async fn open_connection(&self, user: &UserId, connection: &ConnectionId) -> StoreResult<()>;

    /// Whose connection it is, if it is recorded and not expired.
    async fn connection_owner(&self, connection: &ConnectionId) -> StoreResult<Option<UserId>>;

    /// Forgets a connection API Gateway reports closed (`$disconnect`); whose it was.
    async fn close_connection(&self, connection: &ConnectionId) -> StoreResult<Option<UserId>>;

    /// Forgets a connection of `user` a push found gone (410).
    async fn forget_connection(&self, user: &UserId, connection: &ConnectionId) -> StoreResult<()>;

    /// The live connections of each of `users`.
    async fn open_connections(&self, users: &[UserId]) -> StoreResult<Vec<(UserId, ConnectionId)>>;
}
