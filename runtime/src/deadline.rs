//! The time the current request must be answered by, when its host sets one: on Lambda, the
//! invocation's deadline (the Runtime API's `Lambda-Runtime-Deadline-Ms`) less [`ANSWER_MARGIN`].
//! The store's and push's budgets are cut to it, so that a request slowed by throttling is
//! answered — with the JSON 503 and its `Retry-After` — before Lambda stops the function, which
//! API Gateway would turn into a bare 500 (or a 502/504) the client cannot act on.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Time kept to write the answer once the budgets are spent: the response to the Runtime API is
/// one loopback request, well under this.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);

tokio::task_local! {
    static ANSWER_BY: Instant;
}

/// Runs `request` answering by `deadline` (none: the configured budgets alone).
pub async fn within<F: Future>(deadline: Option<Instant>, request: F) -> F::Output {
    match deadline {
        Some(deadline) => ANSWER_BY.scope(deadline, request).await,
        None => request.await,
    }
}

/// Deadlines before this (2001-09-09) are no wall-clock time: Lambda sends milliseconds since the
/// epoch, but an emulator may send a duration instead (`cargo lambda watch` sends 600000).
const EARLIEST_DEADLINE: Duration = Duration::from_millis(1_000_000_000_000);

/// When to answer an invocation whose deadline is `deadline` (Lambda's context), on the runtime's
/// clock: that much before it, less [`ANSWER_MARGIN`]; none for a deadline that is no time.
pub fn answer_by(deadline: SystemTime, now: SystemTime, now_instant: Instant) -> Option<Instant> {
    if deadline < SystemTime::UNIX_EPOCH + EARLIEST_DEADLINE {
        return None;
    }
    let left = deadline.duration_since(now).unwrap_or_default();
    Some(now_instant + left.saturating_sub(ANSWER_MARGIN))
}

/// `budget` from now, cut to the current request's deadline when it has one.
pub fn cut(budget: Duration) -> Duration {
    let now = Instant::now();
    ANSWER_BY.try_with(|by| budget.min(by.saturating_duration_since(now))).unwrap_or(budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_end_before_the_invocation_does() {
        let (now, instant) = (SystemTime::now(), Instant::now());
        // A 10-second function: the store's 12-second budget would outlive it.
        let by = answer_by(now + Duration::from_secs(10), now, instant).unwrap();
        assert_eq!(by - instant, Duration::from_millis(9_500));
        // A deadline already passed leaves nothing, not an underflow.
        assert_eq!(answer_by(now - Duration::from_secs(1), now, instant), Some(instant));
        // An emulator's duration where the epoch time should be is no deadline.
        assert_eq!(answer_by(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000), now, instant), None);
    }

    #[tokio::test]
    async fn a_budget_is_cut_to_the_request_and_only_inside_it() {
        let twelve = Duration::from_secs(12);
        assert_eq!(cut(twelve), twelve, "no deadline outside a request");
        let by = Instant::now() + Duration::from_millis(9_500);
        within(Some(by), async {
            let cut_to = cut(twelve);
            assert!(cut_to <= Duration::from_millis(9_500) && cut_to > Duration::from_millis(9_000), "{cut_to:?}");
            assert_eq!(cut(Duration::from_secs(1)), Duration::from_secs(1), "a shorter budget stays");
        })
        .await;
        let passed = Instant::now() + Duration::from_millis(20);
        within(Some(passed), async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            assert_eq!(cut(twelve), Duration::ZERO, "nothing is left of it");
        })
        .await;
        assert_eq!(within(None, async { cut(twelve) }).await, twelve);
    }
}
