//! What one connection is doing, as far as its deadlines care: waiting for a request, receiving
//! one's headers, or serving requests (which the client cannot stall: body reads have their own
//! timeout in the extractor).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::connections::ConnectionLimits;

const NEVER: u64 = u64::MAX;

/// Timestamps are milliseconds since the connection opened, so that they fit in atomics: the
/// reads happen inside hyper's I/O and the request count changes inside the service.
pub struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    served_any: AtomicBool,
    /// When the last response was finished (or the connection opened).
    waiting_since: AtomicU64,
    /// When the first byte of the next request arrived; `NEVER` while none has.
    request_began: AtomicU64,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served_any: AtomicBool::new(false),
            waiting_since: AtomicU64::new(0),
            request_began: AtomicU64::new(NEVER),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    fn received_bytes(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 && self.request_began.load(Ordering::Relaxed) == NEVER {
            self.request_began.store(self.now(), Ordering::Relaxed);
        }
    }

    /// Hyper parsed a request's headers; the returned guard ends the request when dropped.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// When the connection must close if nothing changes, or `None` while a request is served.
    pub fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let began = self.request_began.load(Ordering::Relaxed);
        let (since, allowed) = if began != NEVER {
            (began, limits.header_read)
        } else if !self.served_any.load(Ordering::Relaxed) {
            // A client that connects and sends nothing is a slow first request, not an idle one.
            (0, limits.header_read)
        } else {
            (self.waiting_since.load(Ordering::Relaxed), limits.idle)
        };
        Some(self.opened + std::time::Duration::from_millis(since) + allowed)
    }

    pub fn expired(&self, limits: &ConnectionLimits) -> bool {
        self.deadline(limits).is_some_and(|deadline| deadline <= Instant::now())
    }
}

/// One request being served on the connection.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.served_any.store(true, Ordering::Relaxed);
        activity.waiting_since.store(activity.now(), Ordering::Relaxed);
        activity.request_began.store(NEVER, Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket, noting when request bytes arrive.
pub struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received_bytes();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
