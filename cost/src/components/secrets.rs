//! Secrets Manager: the one secret holding the key ring and the server key, and the
//! `GetSecretValue` each Lambda execution environment makes when it starts (never per request).

use super::Tier;
use crate::format::num;
use crate::ledger::Ledger;
use crate::model::{HOURS_PER_MONTH, SECONDS_PER_MONTH};

/// `busy_ms`: the function's busy milliseconds in the month, which say how many environments
/// are busy at once on average.
pub fn price(tier: &Tier<'_>, busy_ms: f64, l: &mut Ledger) -> f64 {
    let (p, w) = (tier.pricing, tier.workload);
    let concurrent = busy_ms / 1000.0 / SECONDS_PER_MONTH;
    // At least one environment, started afresh each lifetime, whenever there is any traffic.
    let cold_starts = l.put(
        "cold starts",
        concurrent.ceil() * HOURS_PER_MONTH / w.environment_lifetime_hours,
        "starts",
        format!(
            "⌈{} environments busy on average⌉ × {} h / {} h environment lifetime",
            num(concurrent),
            num(HOURS_PER_MONTH),
            num(w.environment_lifetime_hours)
        ),
    );
    let prices = &p.secrets_manager;
    l.put(
        "Secrets Manager",
        prices.per_secret_month + cold_starts / 10_000.0 * prices.per_10k_api_calls,
        "USD",
        format!(
            "1 secret × ${} + {} GetSecretValue (one per cold start) / 10,000 × ${}",
            num(prices.per_secret_month),
            num(cold_starts),
            num(prices.per_10k_api_calls)
        ),
    )
}
