//! The local server's accept loop: hyper's HTTP/1 connection driven directly (`axum::serve`
//! exposes none of this), so that slow and idle clients are timed out, half-closed requests are
//! answered, and the number of open connections stays below the process's file limit.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use super::activity::{Activity, TrackedIo};
use crate::api::ConnectionContext;
use crate::api::source::Peer;

/// How long each phase of a connection may take when the client is the slow side.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// From connecting, or from the first byte of a later request, to its last header byte.
    pub header_read: Duration,
    /// Between two requests on a kept-alive connection.
    pub idle: Duration,
    /// Connections served at once; more wait in the kernel's backlog until one closes.
    pub max_connections: usize,
}

/// Proxies whose `X-Forwarded-For` is believed ([`crate::api::source::client_address`]).
pub type TrustedProxies = Arc<[IpAddr]>;

/// After the shutdown signal, how long open connections get to finish what they started.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// `accept` fails when the process or the system runs out of descriptors; retrying at once
/// would spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes, then closes idle connections and
/// lets the others finish their current request.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    trusted: TrustedProxies,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let peer = Arc::new(Peer { address: peer.ip(), trusted: trusted.clone() });
        tokio::spawn(serve_connection(stream, peer, router.clone(), limits, stopping.clone(), slot));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds one slot until it closes: having them all back means all are closed.
    let everything = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(everything)).await.is_err() {
        tracing::warn!("some connections were still open {SHUTDOWN_GRACE:?} after the shutdown signal");
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: Arc<Peer>,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
    slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(TrackedIo::new(stream, activity.clone()));
    let tracker = activity.clone();
    // A connection upgraded to a WebSocket leaves this function's loop; the stream keeps the
    // slot until it closes, so open streams count against the connection cap too.
    let context = ConnectionContext { slot: Arc::new(slot), stopping: stopping.clone(), peer };
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_flight = tracker.request_started();
        let router = router.clone();
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(context.clone());
        async move {
            let response = router.oneshot(request).await?;
            // The request counts as in flight until hyper has written and dropped the response.
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &in_flight;
                    frame
                }))
            }))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .half_close(true)
        .keep_alive(true)
        // The header and idle deadlines below replace hyper's, which would time out an idle
        // kept-alive connection after the header timeout, with no separate idle setting.
        .header_read_timeout(None);
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let mut shutting_down = false;
    loop {
        let recheck = activity.deadline(&limits).unwrap_or_else(|| tokio::time::Instant::now() + limits.header_read);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(recheck) => {
                if activity.expired(&limits) {
                    tracing::debug!("closing a connection that was idle or too slow to send a request");
                    return;
                }
            }
            _ = stopping.changed(), if !shutting_down => {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
