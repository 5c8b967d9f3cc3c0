//! Push on AWS: after a send commits, its message goes to the open API Gateway WebSocket
//! connections of everyone whose feed it reached, with `PostToConnection`.
//!
//! Best effort, and bounded: the feed stays the truth. A send waits for its pushes at most
//! `push_budget_ms` (then answers anyway); a post that fails loses that frame for that connection
//! only, and every frame carries the cursors just before and just past its entry, so a client
//! that finds a frame not following its own cursor polls from its cursor. Connections API
//! Gateway reports gone (410) are forgotten on the spot, once they are older than
//! [`CONNECT_GRACE`](contract::limits::CONNECT_GRACE): a connection still in its `$connect`
//! answers 410 too.

pub mod frames;
pub mod gateway;
pub mod websocket;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use contract::limits::CONCURRENT_POSTS;
use futures::StreamExt;
use serde_json::value::RawValue;

use async_trait::async_trait;

use self::gateway::{Gateway, PostError};
use crate::api::Delivery;
use crate::domain::{ConnectionId, Cursor, Keys, MessageJson, Sent, Seq, SessionId, UserId};
use crate::protocol::StreamFrame;
use crate::store::Appended;
use crate::store::connections::{ConnectionRecord, Connections};

pub struct Push {
    connections: Arc<dyn Connections>,
    gateway: Gateway,
    keys: Arc<Keys>,
    /// The most a send waits for its pushes.
    budget: Duration,
}

impl Push {
    pub fn new(connections: Arc<dyn Connections>, gateway: Gateway, keys: Arc<Keys>, budget: Duration) -> Self {
        Self { connections, gateway, keys, budget }
    }

    /// The connection records this push reads and keeps.
    pub fn connections(&self) -> &dyn Connections {
        &*self.connections
    }

    async fn deliver_all(&self, sent: &Sent) {
        let users: Vec<UserId> = sent.deliveries.iter().map(|(user, _)| user.clone()).collect();
        let positions: HashMap<&UserId, Seq> = sent.deliveries.iter().map(|(user, seq)| (user, *seq)).collect();
        let message = MessageJson::encode(&sent.message);
        self.post_to_connections(&users, |_| true, |user| positions[user], message.raw()).await;
    }

    /// Posts `users`' entry `entry` at `position(user)` to each of their live connections that
    /// `wanted` picks, several posts at a time.
    async fn post_to_connections(
        &self,
        users: &[UserId],
        wanted: impl Fn(&ConnectionRecord) -> bool,
        position: impl Fn(&UserId) -> Seq,
        entry: &RawValue,
    ) {
        // A connection whose access token expired unextended gets no more pushes; its next
        // message is answered `session_expired`.
        let now = crate::domain::session::now();
        let connections = match self.connections.open_connections(users).await {
            Ok(connections) => {
                connections.into_iter().filter(|record| record.is_live(now) && wanted(record)).collect::<Vec<_>>()
            }
            Err(error) => {
                tracing::warn!(%error, "push could not read the recipients' connections");
                return;
            }
        };
        futures::stream::iter(connections)
            .for_each_concurrent(CONCURRENT_POSTS, |record| {
                let frame = self.message_frame(&record.user, position(&record.user), entry);
                async move {
                    self.post(&record, frame).await;
                }
            })
            .await;
    }

    /// The frame of `user`'s feed entry at `seq`.
    pub fn message_frame(&self, user: &UserId, seq: Seq, message: &RawValue) -> Vec<u8> {
        let cursor = self.keys.encode_cursor(user, Cursor(seq));
        let after = self.keys.encode_cursor(user, Cursor(Seq(seq.0 - 1)));
        StreamFrame::Message { message, cursor, after }.to_bytes()
    }

    /// Posts one frame; forgets the connection if API Gateway says it is gone — unless it may
    /// still be in its `$connect`, when API Gateway answers 410 as well. Whether it was delivered.
    pub async fn post(&self, record: &ConnectionRecord, frame: Vec<u8>) -> bool {
        let connection = &record.connection;
        match self.gateway.post(connection, frame).await {
            Ok(()) => true,
            Err(PostError::Gone) if !record.is_settled(crate::domain::session::now()) => false,
            Err(PostError::Gone) => {
                if let Err(error) = self.connections.forget_connection(&record.user, connection).await {
                    tracing::warn!(%error, %connection, "could not forget a connection that is gone");
                }
                false
            }
            Err(PostError::Failed(error)) => {
                tracing::warn!(%error, %connection, "a push failed");
                false
            }
        }
    }
}

#[async_trait]
impl Delivery for Push {
    /// Pushes a committed send to its recipients' connections, for at most the push budget.
    async fn deliver(&self, sent: &Sent) {
        if sent.deliveries.is_empty() {
            return;
        }
        if tokio::time::timeout(crate::deadline::cut(self.budget), self.deliver_all(sent)).await.is_err() {
            tracing::warn!(message_id = %sent.message.id, "push stopped at its time bound");
        }
    }

    /// Pushes a membership entry to the member's connections opened with `include=membership`
    /// (a client that knows only messages is not sent one), for at most the push budget.
    async fn deliver_entry(&self, appended: &Appended) {
        let Appended { user, seq, entry } = appended;
        let all =
            self.post_to_connections(std::slice::from_ref(user), |record| record.membership, |_| *seq, entry.raw());
        if tokio::time::timeout(crate::deadline::cut(self.budget), all).await.is_err() {
            tracing::warn!(%user, "push of a membership entry stopped at its time bound");
        }
    }

    /// Closes the connections the sign-out ends: those of its session, or all of the user's —
    /// expired ones too, which API Gateway still holds open.
    async fn sign_out(&self, user: &UserId, session: Option<&SessionId>) {
        match self.connections.open_connections(std::slice::from_ref(user)).await {
            Ok(open) => {
                let ids: Vec<ConnectionId> = open
                    .into_iter()
                    .filter(|record| session.is_none_or(|session| record.session == *session))
                    .map(|record| record.connection)
                    .collect();
                self.disconnect(&ids).await;
            }
            Err(error) => tracing::warn!(%error, %user, "could not read the connections of a user who signed out"),
        }
    }

    /// `DeleteConnection` for each, at most the push budget in all.
    async fn disconnect(&self, connections: &[ConnectionId]) {
        let all = futures::stream::iter(connections).for_each_concurrent(CONCURRENT_POSTS, |connection| async move {
            if let Err(error) = self.gateway.delete(connection).await {
                tracing::warn!(%error, %connection, "could not close a connection");
            }
        });
        if tokio::time::timeout(crate::deadline::cut(self.budget), all).await.is_err() {
            tracing::warn!("closing connections stopped at its time bound");
        }
    }
}
