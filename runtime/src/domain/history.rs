//! History pages: which way a page reads, where the next one starts, and what a cursor the
//! server signed vouches for, so that a store need not read it again.

use serde::{Deserialize, Serialize};

use super::conversation::{Number, Participation, Span};
use super::message::MessageJson;

/// Which way a history page reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryFrom {
    /// Newest first from the newest.
    Newest,
    /// Newest first, numbers below this.
    Before(Number),
    /// Oldest first, numbers above this.
    After(Number),
}

impl HistoryFrom {
    pub fn newest_first(self) -> bool {
        !matches!(self, Self::After(_))
    }
}

/// A page of one conversation's history.
#[derive(Clone, Debug)]
pub struct HistoryPage {
    pub messages: Vec<(Number, MessageJson)>,
    pub next: Option<HistoryFrom>,
    /// What the cursor of `next` may vouch for, signed ([`Vouched`]); `None`: nothing.
    pub vouched: Option<Vouched>,
}

/// Where the page after `messages` (read from `from`) starts: going back, nothing once the
/// conversation's start was reached (`more` is false), and the same place again after a page
/// that stopped before anything; going forward, always (more may come).
pub fn next_page(from: HistoryFrom, messages: &[(Number, MessageJson)], more: bool) -> Option<HistoryFrom> {
    let last = messages.last().map(|(n, _)| *n);
    match from {
        HistoryFrom::After(after) => Some(HistoryFrom::After(last.unwrap_or(after))),
        _ if !more => None,
        HistoryFrom::Before(before) => Some(HistoryFrom::Before(last.unwrap_or(before))),
        HistoryFrom::Newest => last.map(HistoryFrom::Before),
    }
}

/// What a history cursor the server signed vouches for in a group, so that the page it starts
/// needs no read of the caller's side: their spans of the group's numbers above `above` (at or
/// below it, the store reads their side), as they stood when the group's newest number was at
/// least `settled`. Numbers up to `settled` are theirs exactly when the spans say so, whatever
/// happens later; above it, a removal since may have closed their last span.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vouched {
    pub spans: Vec<Span>,
    pub above: u64,
    pub settled: u64,
}

impl Vouched {
    /// The side it vouches for (without a read position, which pages do not need).
    pub fn side(&self) -> Participation {
        Participation { spans: self.spans.clone(), read: None, joined_at: 0 }
    }

    /// Whether it answers for every number a page read from `from` may return: going back, the
    /// numbers below the cursor (all settled) down to `above`; going forward, the numbers after
    /// the cursor while some are settled, or all of them once the last span has closed.
    pub fn covers(&self, from: HistoryFrom) -> bool {
        match from {
            HistoryFrom::Newest => false,
            HistoryFrom::Before(n) => n.0.saturating_sub(1) > self.above,
            HistoryFrom::After(n) => {
                let closed = self.spans.last().is_some_and(|span| span.to.is_some());
                n.0 >= self.above && (closed || n.0 < self.settled)
            }
        }
    }

    /// The highest number a page may read forward: past `settled` only once closed.
    pub fn highest(&self) -> u64 {
        match self.spans.last() {
            Some(Span { to: Some(to), .. }) => *to,
            _ => self.settled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vouched(spans: &[(u64, Option<u64>)], above: u64, settled: u64) -> Vouched {
        Vouched { spans: spans.iter().map(|&(from, to)| Span { from, to }).collect(), above, settled }
    }

    #[test]
    fn a_vouch_covers_back_to_its_floor_and_forward_to_what_was_settled() {
        let open = vouched(&[(10, None)], 10, 50);
        assert!(!open.covers(HistoryFrom::Newest));
        assert!(open.covers(HistoryFrom::Before(Number(12))));
        assert!(!open.covers(HistoryFrom::Before(Number(11))), "nothing above the floor is left");
        assert!(open.covers(HistoryFrom::After(Number(10))));
        assert!(open.covers(HistoryFrom::After(Number(49))));
        assert!(!open.covers(HistoryFrom::After(Number(50))), "beyond what was settled");
        assert!(!open.covers(HistoryFrom::After(Number(9))), "below the floor");
        assert_eq!(open.highest(), 50);
        let closed = vouched(&[(0, Some(5)), (10, Some(20))], 0, 20);
        assert!(closed.covers(HistoryFrom::After(Number(20))), "a closed span never changes");
        assert!(closed.covers(HistoryFrom::After(Number(500))));
        assert!(closed.covers(HistoryFrom::Before(Number(2))));
        assert_eq!(closed.highest(), 20);
    }
}
