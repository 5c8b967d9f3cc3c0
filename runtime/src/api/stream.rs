//! `GET /v1/stream`: the caller's feed over a WebSocket — first every entry after the cursor, as
//! a poll would read it, then each new entry as it commits.
//!
//! A stream outlives access tokens: the client sends `{"action":"reauth","access_token":"…"}` with
//! a fresh token of the same user before the current one expires; a stream left to expire is
//! closed with 4003, and one whose session is signed out with 4004, at once.
//!
//! Every frame carries the cursor just past its message, so a client that reconnects (or polls)
//! with the last cursor it received gets every message exactly once, in order, whether it read
//! them from a stream, a poll, or both. The feed is the truth: live entries come from the
//! store's commit events ([`FeedEvents`](crate::store::events::FeedEvents)), and whenever those cannot be trusted to be complete —
//! a gap in positions — the stream reads the feed instead.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{
    CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, CallerSession, QueryParams, cursor_after};
use super::signouts::SignedOut;
use crate::domain::conversation::include_membership;
use crate::domain::session::now;
use crate::domain::{AccessClaims, Cursor, MessageJson, Rule, Seq};
use crate::protocol::{
    BEARER_PROTOCOL_PREFIX, CLIENT_MESSAGES, CLOSE_BEHIND, CLOSE_SESSION_EXPIRED, CLOSE_SIGNED_OUT, CLOSE_TOO_SLOW,
    CatchUp, ClientMessage, PROTOCOL, StreamFrame, reauth,
};
use crate::store::events::Subscription;

/// Entries per feed read while catching up.
const CATCH_UP_PAGE: usize = 100;
/// The client sends nothing but control frames; anything larger is a protocol error.
const MAX_CLIENT_FRAME: usize = 4096;

/// How a stream paces itself.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    /// Between pings; a client silent for two of them is gone.
    pub ping: Duration,
    /// For the client to take one frame.
    pub write_timeout: Duration,
}

/// What the accept loop lends each request: for a stream to keep while it is open, the
/// connection's slot (so open streams count against the connection cap) and the shutdown signal;
/// and who is at the other end, for the limits per source address.
#[derive(Clone)]
pub struct ConnectionContext {
    pub slot: Arc<dyn Any + Send + Sync>,
    pub stopping: watch::Receiver<bool>,
    pub peer: Arc<super::source::Peer>,
}

#[derive(Deserialize)]
pub struct StreamQuery {
    after: Option<String>,
    include: Option<String>,
}

/// The caller, from `Authorization: Bearer` or, for browsers, the `bearer.<token>` subprotocol.
pub struct StreamCaller(pub AccessClaims);

impl FromRequestParts<AppState> for StreamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(AUTHORIZATION) {
            return CallerSession::from_request_parts(parts, state)
                .await
                .map(|CallerSession(claims)| StreamCaller(claims));
        }
        let offered = parts.headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok());
        let token = offered
            .flat_map(|value| value.split(','))
            .find_map(|protocol| protocol.trim().strip_prefix(BEARER_PROTOCOL_PREFIX))
            .ok_or(ApiError::MissingToken)?;
        Caller::authenticate(token, state).map(StreamCaller)
    }
}

/// Opens a stream (the route exists only on a store that publishes its commits).
pub async fn open(
    State(state): State<AppState>,
    StreamCaller(claims): StreamCaller,
    QueryParams(query): QueryParams<StreamQuery>,
    context: Option<Extension<ConnectionContext>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let after = cursor_after(&state, &claims.user, query.after.as_deref())?;
    let membership = include_membership(query.include.as_deref())?;
    let upgrade = upgrade.map_err(|_| ApiError::WebSocketRequired)?;
    let events = state.store.feed_events().ok_or(ApiError::RouteNotFound)?;
    // Held for as long as the stream is open.
    let place = state.streams.open(&claims.user)?;
    state.store.charge(Rule::ConnectsPerUser, claims.user.as_str(), 1).await?;
    let context = context.map(|Extension(context)| context);
    let upgrade = upgrade
        .protocols([PROTOCOL])
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        // The defaults reserve 128 KiB per connection for reading; clients send only control
        // frames, and every frame we write is flushed at once, so small buffers hold either.
        .read_buffer_size(MAX_CLIENT_FRAME)
        .write_buffer_size(0);
    Ok(upgrade.on_upgrade(move |socket| async move {
        // Subscribed before the first read of the feed: an entry committed in between is in
        // the read or in the subscription, never in neither.
        let subscription = events.subscribe(&claims.user);
        let signouts = state.signouts.subscribe();
        let stream =
            Stream { socket, state, claims, signouts, last: after.0, told: after.0, membership, heard: Instant::now() };
        stream.run(subscription, context).await;
        drop(place);
    }))
}

/// Why a stream ended.
#[derive(Debug)]
enum End {
    /// The client closed it or the connection failed.
    Gone,
    /// More than the buffer of deliveries waited for it.
    Behind,
    /// It did not take a frame within the write timeout.
    TooSlow,
    /// It answered no ping for two intervals.
    Silent,
    ShuttingDown,
    StoreUnavailable,
    /// Its access token expired without a `reauth`.
    SessionExpired,
    /// Its session was signed out.
    SignedOut,
}

struct Stream {
    socket: WebSocket,
    state: AppState,
    /// Whose feed, and until when: the last access token accepted.
    claims: AccessClaims,
    signouts: broadcast::Receiver<SignedOut>,
    /// Position of the last entry sent or passed over.
    last: Seq,
    /// Position of the last entry sent (the client's cursor): the next frame's `after`.
    told: Seq,
    /// Whether the client asked for membership entries (`include=membership`).
    membership: bool,
    /// When the client last sent anything.
    heard: Instant,
}

impl Stream {
    async fn run(mut self, mut subscription: Subscription, context: Option<ConnectionContext>) {
        let (_slot, mut stopping) = match context {
            Some(ConnectionContext { slot, stopping, .. }) => (Some(slot), Some(stopping)),
            None => (None, None),
        };
        let end = match self.catch_up().await {
            Ok(()) => self.live(&mut subscription, stopping.as_mut()).await,
            Err(end) => end,
        };
        drop(subscription);
        tracing::debug!(user = %self.claims.user, ?end, "stream ended");
        let close = match end {
            End::Gone | End::Silent => return,
            End::Behind => (CLOSE_BEHIND, "fell behind: reconnect with the last cursor"),
            End::TooSlow => (CLOSE_TOO_SLOW, "too slow to take frames: reconnect with the last cursor"),
            End::ShuttingDown => (1001, "server shutting down: reconnect with the last cursor"),
            End::StoreUnavailable => (1013, "store unavailable: reconnect with the last cursor"),
            End::SessionExpired => (CLOSE_SESSION_EXPIRED, "the access token expired: reconnect with a fresh one"),
            End::SignedOut => (CLOSE_SIGNED_OUT, "the session was signed out"),
        };
        let frame = Frame::Close(Some(CloseFrame { code: close.0, reason: close.1.into() }));
        // A client too slow for frames may be too slow for this one as well.
        let _ = tokio::time::timeout(self.state.limits.stream.write_timeout, self.socket.send(frame)).await;
    }

    /// Sends every entry after `last` that the feed holds, then `caught_up`.
    async fn catch_up(&mut self) -> Result<(), End> {
        self.read_feed().await?;
        // The client's cursor: the last entry it was sent (a reconnect from there passes over
        // the same membership entries again).
        let cursor = self.state.keys.encode_cursor(&self.claims.user, Cursor(self.told));
        self.send(&StreamFrame::CaughtUp { cursor }).await
    }

    async fn read_feed(&mut self) -> Result<(), End> {
        let mut pages = CatchUp::after(&self.claims.user, self.last, CATCH_UP_PAGE, usize::MAX);
        let store = self.state.store.clone();
        while let Some(page) = pages.next_page(&*store).await.map_err(|error| {
            tracing::warn!(%error, "a stream could not read its feed");
            End::StoreUnavailable
        })? {
            for (seq, message) in &page {
                self.send_entry(*seq, message).await?;
            }
        }
        Ok(())
    }

    /// Sends each new entry as it commits, until the stream ends.
    async fn live(&mut self, subscription: &mut Subscription, mut stopping: Option<&mut watch::Receiver<bool>>) -> End {
        let ping_every = self.state.limits.stream.ping;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let expiry = tokio::time::sleep_until(self.expiry());
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                delivery = subscription.next() => {
                    let sent = match delivery {
                        None => Err(End::Behind),
                        Some(delivery) if delivery.seq <= self.last => Ok(()),
                        Some(delivery) if delivery.seq == self.last.next() => {
                            self.send_entry(delivery.seq, &delivery.message).await
                        }
                        // Positions are published in commit order, so this cannot happen; if it
                        // did, the feed has what was missed.
                        Some(_) => self.read_feed().await,
                    };
                    if let Err(end) = sent {
                        return end;
                    }
                }
                received = self.socket.recv() => match received {
                    Some(Ok(Frame::Close(_)) | Err(_)) | None => return End::Gone,
                    Some(Ok(Frame::Text(text))) => {
                        self.heard = Instant::now();
                        match self.on_message(text.as_str()).await {
                            Ok(true) => expiry.as_mut().reset(self.expiry()),
                            Ok(false) => {}
                            Err(end) => return end,
                        }
                    }
                    // Pongs, and anything else the client says: it is alive.
                    Some(Ok(_)) => self.heard = Instant::now(),
                },
                () = &mut expiry => return End::SessionExpired,
                signed_out = self.signouts.recv() => match signed_out {
                    Ok(signed_out) if signed_out.ends(&self.claims) => return End::SignedOut,
                    Ok(_) => {}
                    // Sign-outs were missed: this stream's may be among them.
                    Err(broadcast::error::RecvError::Lagged(_)) => return End::SignedOut,
                    Err(broadcast::error::RecvError::Closed) => return End::ShuttingDown,
                },
                _ = ping.tick() => {
                    if self.heard.elapsed() > 2 * ping_every {
                        return End::Silent;
                    }
                    if let Err(end) = self.write(Frame::Ping(Default::default())).await {
                        return end;
                    }
                }
                () = changed(stopping.as_deref_mut()) => return End::ShuttingDown,
            }
        }
    }

    /// When the stream's access token expires, on the runtime's clock (to the millisecond: a
    /// token's expiry is a whole second, not the time it was checked at).
    fn expiry(&self) -> Instant {
        let expires = std::time::UNIX_EPOCH + Duration::from_secs(self.claims.expires_at);
        Instant::now() + expires.duration_since(std::time::SystemTime::now()).unwrap_or_default()
    }

    /// Acts on a client's message; `true` when it extended the stream.
    async fn on_message(&mut self, text: &str) -> Result<bool, End> {
        let error = |code, message: String| StreamFrame::Error { code, message };
        if let Err(refused) = self.state.store.charge(Rule::SocketMessagesPerUser, self.claims.user.as_str(), 1).await {
            let refused = ApiError::from(refused);
            return self.send(&error(refused.status_and_code().1, refused.to_string())).await.map(|()| false);
        }
        let answer = match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Ping) => return Ok(false),
            Ok(ClientMessage::Resume { after, include }) => match self.resumed(after.as_deref(), include.as_deref()) {
                Ok(()) => return self.catch_up().await.map(|()| false),
                Err(refused) => error(refused.status_and_code().1, refused.to_string()),
            },
            Ok(ClientMessage::Reauth { access_token }) => {
                match reauth(&self.state.keys, &self.claims.user, &access_token, now()) {
                    Ok(claims) => {
                        let expires_in = claims.expires_at.saturating_sub(now());
                        self.claims = claims;
                        self.send(&StreamFrame::Reauthed { expires_in }).await?;
                        return Ok(true);
                    }
                    Err(refused) => refused,
                }
            }
            Err(refused) => error("invalid_message", format!("expected {CLIENT_MESSAGES}: {refused}")),
        };
        self.send(&answer).await.map(|()| false)
    }

    /// Takes a resume's cursor (and choice of membership entries, if it makes one).
    fn resumed(&mut self, after: Option<&str>, include: Option<&str>) -> Result<(), ApiError> {
        let Cursor(after) = cursor_after(&self.state, &self.claims.user, after)?;
        if include.is_some() {
            self.membership = include_membership(include)?;
        }
        (self.last, self.told) = (after, after);
        Ok(())
    }

    /// Sends one entry, or passes over a membership entry the client did not ask for: the next
    /// frame's `after` is still the client's cursor, so it applies that frame as usual.
    async fn send_entry(&mut self, seq: Seq, message: &MessageJson) -> Result<(), End> {
        if message.is_membership() && !self.membership {
            self.last = seq;
            return Ok(());
        }
        let cursor = self.state.keys.encode_cursor(&self.claims.user, Cursor(seq));
        let after = self.state.keys.encode_cursor(&self.claims.user, Cursor(self.told));
        self.send(&StreamFrame::Message { message: message.raw(), cursor, after }).await?;
        (self.last, self.told) = (seq, seq);
        Ok(())
    }

    async fn send(&mut self, frame: &StreamFrame<'_>) -> Result<(), End> {
        let text = serde_json::to_string(frame).expect("a frame always serialises");
        self.write(Frame::Text(text.into())).await
    }

    async fn write(&mut self, frame: Frame) -> Result<(), End> {
        match tokio::time::timeout(self.state.limits.stream.write_timeout, self.socket.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::TooSlow),
        }
    }
}

/// Completes once the server starts shutting down; never without a shutdown signal.
async fn changed(stopping: Option<&mut watch::Receiver<bool>>) {
    match stopping {
        Some(stopping) => {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        }
        None => std::future::pending().await,
    }
}
