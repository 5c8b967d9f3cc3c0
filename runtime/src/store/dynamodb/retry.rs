//! Retrying under DynamoDB's concurrency, within a time budget.
//!
//! DynamoDB refuses work in two ways that retrying fixes: **conflicts** (a conditional write lost
//! a race for a feed head or a group version; a transaction was cancelled with
//! `TransactionConflict`; a single-item write hit an item that an in-flight transaction holds,
//! `TransactionConflictException`, which the SDK does not retry) and **throttling** (a
//! partition or the table over its rate: `ThrottlingException`,
//! `ProvisionedThroughputExceededException`, a transaction cancelled with `ThrottlingError`). A
//! conflict clears as soon as the other writer is done, so it is retried after a few
//! milliseconds; throttling clears as load spreads out, so it backs off longer. Every loop is
//! bounded by the operation's [`OPERATION_BUDGET`]: an operation that runs out of it fails with
//! `Unavailable` (503, `Retry-After`), which is safe to retry — with the same `client_id` for a
//! send.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::CancellationReason;
use tokio::time::Instant;

use crate::store::{StoreError, StoreResult};

/// The whole time one store operation may take, DynamoDB requests and retries included: well
/// under API Gateway's 30 s integration timeout, after which the client has its 504 and the
/// work would go on unseen.
pub const OPERATION_BUDGET: Duration = Duration::from_secs(12);
/// One attempt of one DynamoDB request within `budget`: a sixth of it, so that a request whose
/// attempt hangs is retried in time. The SDK retries a timed-out attempt (the retry of a
/// transaction carries the same `ClientRequestToken`, so an attempt that was applied but whose
/// answer was lost is not applied twice).
pub const fn attempt_timeout(budget: Duration) -> Duration {
    Duration::from_millis((budget.as_millis() / 6) as u64)
}
/// One attempt under the default budget.
pub const ATTEMPT_TIMEOUT: Duration = attempt_timeout(OPERATION_BUDGET);

/// Why a write did not go through this time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contention {
    Conflict,
    Throttled,
}

/// The point in time an operation must be finished by.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Default for Deadline {
    fn default() -> Self {
        Self::after(OPERATION_BUDGET)
    }
}

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Sleeps before retry number `attempt` (from 0), with full jitter; `Err` if the pause would
    /// end past the deadline.
    pub async fn back_off(&self, attempt: u32, why: Contention) -> StoreResult<()> {
        // µs: conflicts from 1 ms doubling up to 50 ms, throttling from 25 ms up to 1 s.
        let (base, cap) = match why {
            Contention::Conflict => (1_000u64, 50_000u64),
            Contention::Throttled => (25_000, 1_000_000),
        };
        let ceiling = (base << attempt.min(10)).min(cap);
        let mut random = [0u8; 4];
        let _ = getrandom::fill(&mut random);
        let pause = Duration::from_micros(u64::from(u32::from_le_bytes(random)) % ceiling);
        if pause >= self.remaining() {
            return Err(out_of_time(why));
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }

    /// `call`, unless it outlasts the deadline.
    pub async fn bound<T>(&self, call: impl Future<Output = T>) -> StoreResult<T> {
        tokio::time::timeout(self.remaining(), call).await.map_err(|_| out_of_time(Contention::Conflict))
    }
}

/// The retries of one loop, within the operation's deadline: each pause may be longer than the
/// last, so no caller keeps a count of its own.
#[derive(Debug)]
pub struct Retry {
    deadline: Deadline,
    attempt: u32,
}

impl Retry {
    pub fn within(deadline: Deadline) -> Self {
        Self { deadline, attempt: 0 }
    }

    /// Sleeps before the next attempt; `Err` if it would end past the deadline.
    pub async fn back_off(&mut self, why: Contention) -> StoreResult<()> {
        self.deadline.back_off(self.attempt, why).await?;
        self.attempt += 1;
        Ok(())
    }

    /// Progress was made: the next contention starts from the shortest pause again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

fn out_of_time(why: Contention) -> StoreError {
    let cause = match why {
        Contention::Conflict => "concurrent writes",
        Contention::Throttled => "DynamoDB throttling",
    };
    StoreError::unavailable(format!(
        "{cause} outlasted the operation's time budget; safe to retry (a send with its client_id)"
    ))
}

/// The contention behind a failed single request, if retrying can fix it. A 5xx and a request
/// that never got an answer count as throttling: they are DynamoDB or the network under strain,
/// and the SDK, whose retry quota runs dry under sustained errors, has given up on them.
pub fn contention<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Option<Contention> {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return Some(Contention::Throttled);
        }
        SdkError::ServiceError(service) if service.raw().status().is_server_error() => {
            return Some(Contention::Throttled);
        }
        _ => {}
    }
    match error.as_service_error().and_then(ProvideErrorMetadata::code)? {
        "TransactionConflictException" => Some(Contention::Conflict),
        "ThrottlingException" | "ProvisionedThroughputExceededException" | "RequestLimitExceeded" => {
            Some(Contention::Throttled)
        }
        _ => None,
    }
}

/// The contention behind a cancelled transaction: throttling if any item was throttled (it needs
/// the longer pause), a conflict otherwise.
pub fn cancellation(reasons: &[CancellationReason]) -> Contention {
    let throttled =
        |code: &str| matches!(code, "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded");
    if reasons.iter().any(|r| r.code().is_some_and(throttled)) { Contention::Throttled } else { Contention::Conflict }
}
