//! The shared limits ([`crate::domain::limits`]) in the embedded store: one process owns the
//! store file, so every request it serves counts here. Counts live in memory: a restart starts
//! the minute afresh, which lets a client through at most one more window's worth.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::limits::{Window, fits};
use crate::domain::session::now;
use crate::domain::{Rejection, Rule, RuleLimits};
use crate::store::StoreResult;

pub struct Counters {
    limits: RuleLimits,
    counts: Mutex<Counts>,
}

/// This window's counts, by subject and rule; those of an earlier window are dropped when the
/// next one starts. Keyed by subject alone so that a lookup borrows it (a send's charge runs on
/// the writer thread, which allocates nothing for it but a subject's first count in a window).
#[derive(Default)]
struct Counts {
    window: Window,
    by_subject: HashMap<String, [u64; Rule::ALL.len()]>,
}

impl Counters {
    pub fn new(limits: RuleLimits) -> Self {
        Self { limits, counts: Mutex::default() }
    }

    /// Counts every one of `charges` (rule, subject, amount), or — when one would pass its
    /// rule's limit — none, and refuses with the first such rule.
    pub fn charge(&self, charges: &[(Rule, &str, u32)]) -> StoreResult<()> {
        let charges: Vec<_> = charges
            .iter()
            .filter_map(|&(rule, subject, amount)| self.limits.of(rule).map(|limit| (rule, subject, amount, limit)))
            .collect();
        if charges.is_empty() {
            return Ok(());
        }
        let now = now();
        let window = Window::at(now);
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.window != window {
            *counts = Counts { window, by_subject: HashMap::new() };
        }
        for &(rule, subject, amount, limit) in &charges {
            let counted = counts.by_subject.get(subject).map_or(0, |counted| counted[rule as usize]);
            if !fits(counted, amount, limit) {
                return Err(Rejection::RateLimited { rule, retry_after_secs: window.retry_after(now) }.into());
            }
        }
        for (rule, subject, amount, _) in charges {
            let counted = match counts.by_subject.get_mut(subject) {
                Some(counted) => counted,
                None => counts.by_subject.entry(subject.to_owned()).or_default(),
            };
            counted[rule as usize] += u64::from(amount);
        }
        Ok(())
    }
}
