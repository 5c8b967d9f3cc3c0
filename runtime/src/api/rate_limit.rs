//! Per-user request rate limiting: a token bucket per authenticated user.
//!
//! The defaults (a burst of 1000 requests, refilled at 100 per second) never bite a client that
//! polls, or one that imports a few hundred messages as fast as it can; they stop a runaway
//! client from starving everyone else. The buckets live in this process's memory, so with several
//! instances (Lambda) each instance limits on its own.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::ApiError;
use crate::domain::UserId;

pub struct RateLimiter {
    buckets: DefaultKeyedRateLimiter<UserId>,
    clock: DefaultClock,
}

impl RateLimiter {
    /// `None` when `per_second` is 0, which turns limiting off.
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let per_second = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(per_second);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Some(Self { buckets: governor::RateLimiter::keyed(quota), clock: DefaultClock::default() })
    }

    pub fn check(&self, user: &UserId) -> Result<(), ApiError> {
        self.buckets.check_key(user).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited { retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0) }
        })
    }

    /// Forgets users whose buckets are full again, so memory tracks active users only.
    pub fn forget_idle(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
    }

    pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
}
