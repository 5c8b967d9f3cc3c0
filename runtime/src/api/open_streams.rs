//! `connections_per_user` for the local server's streams: how many each user has open in this
//! process, which serves every stream of its store (the embedded store is one process's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::error::ApiError;
use crate::domain::limits::WINDOW_SECS;
use crate::domain::{Rejection, Rule, UserId};

#[derive(Default)]
pub struct OpenStreams {
    /// `None`: no limit.
    limit: Option<u32>,
    open: Mutex<HashMap<UserId, u32>>,
}

/// One open stream of a user; dropping it (the stream ended) frees its place.
pub struct StreamSlot {
    streams: Arc<OpenStreams>,
    user: UserId,
}

impl OpenStreams {
    pub fn new(limit: Option<u32>) -> Arc<Self> {
        Arc::new(Self { limit, open: Mutex::default() })
    }

    /// A place for one more stream of `user`, or 429 when they have `limit` open already.
    pub fn open(self: &Arc<Self>, user: &UserId) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user.clone()).or_default();
        if self.limit.is_some_and(|limit| *count >= limit) {
            // Not a window: a place frees when one of their streams closes, which the server
            // cannot foresee; a minute is what the other limits ask for.
            let rule = Rule::ConnectionsPerUser;
            return Err(Rejection::RateLimited { rule, retry_after_secs: WINDOW_SECS }.into());
        }
        *count += 1;
        Ok(StreamSlot { streams: self.clone(), user: user.clone() })
    }

    /// Streams `user` has open.
    pub fn count(&self, user: &UserId) -> u32 {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(user).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_frees_when_a_stream_ends() {
        let streams = OpenStreams::new(Some(2));
        let user = UserId::generate();
        let first = streams.open(&user).unwrap();
        let _second = streams.open(&user).unwrap();
        assert!(streams.open(&user).is_err());
        assert!(streams.open(&UserId::generate()).is_ok(), "per user");
        drop(first);
        assert_eq!(streams.count(&user), 1);
        assert!(streams.open(&user).is_ok());
    }
}
