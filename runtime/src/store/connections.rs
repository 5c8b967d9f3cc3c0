//! Records of open API Gateway WebSocket connections, so that a send can push to its recipients'
//! connections: the storage contract push depends on, apart from [`Store`](super::Store) because
//! only a store deployed behind the WebSocket API keeps them (the DynamoDB store).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{AccessClaims, ConnectionId, SessionId, UnixSecs, UserId};

/// One open connection: whose it is, the session whose access token opened (or last
/// reauthenticated) it, when that token expires — after which it gets no pushes — when it was
/// recorded, and whether it asked for membership entries (`include=membership` on `$connect`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnectionRecord {
    pub user: UserId,
    pub connection: ConnectionId,
    pub session: SessionId,
    pub expires_at: UnixSecs,
    pub connected_at: UnixSecs,
    pub membership: bool,
}

impl ConnectionRecord {
    /// `connection`, authenticated by `claims`, at `now`; pushed membership entries or not.
    pub fn new(connection: ConnectionId, claims: AccessClaims, now: UnixSecs, membership: bool) -> Self {
        Self {
            user: claims.user,
            connection,
            session: claims.session,
            expires_at: claims.expires_at,
            connected_at: now,
            membership,
        }
    }

    /// Whether its access token is still good at `now` (a token is good until the second it names).
    pub fn is_live(&self, now: UnixSecs) -> bool {
        self.expires_at > now
    }

    /// Whether its `$connect` has surely ended by `now`, so that a 410 means it is gone.
    pub fn is_settled(&self, now: UnixSecs) -> bool {
        now >= self.connected_at.saturating_add(contract::limits::CONNECT_GRACE.as_secs())
    }
}

#[async_trait]
pub trait Connections: Send + Sync {
    /// Records a connection (API Gateway's `$connect`).
    async fn open_connection(&self, record: &ConnectionRecord) -> StoreResult<()>;

    /// The connection's record, if it is recorded and within API Gateway's lifetime (whether or
    /// not its token has expired).
    async fn connection_owner(&self, connection: &ConnectionId) -> StoreResult<Option<ConnectionRecord>>;

    /// Moves a recorded connection to a fresh token's session and expiry (a `reauth`; its
    /// `connected_at` stays); `false` if it is not recorded.
    async fn extend_connection(&self, record: &ConnectionRecord) -> StoreResult<bool>;

    /// Forgets a connection API Gateway reports closed (`$disconnect`); whose it was.
    async fn close_connection(&self, connection: &ConnectionId) -> StoreResult<Option<UserId>>;

    /// Forgets a connection of `user` a push found gone (410).
    async fn forget_connection(&self, user: &UserId, connection: &ConnectionId) -> StoreResult<()>;

    /// The recorded connections of each of `users`, expired tokens included.
    async fn open_connections(&self, users: &[UserId]) -> StoreResult<Vec<ConnectionRecord>>;
}
