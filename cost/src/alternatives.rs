//! What else the same workload would cost: each alternative deployment priced for every tier,
//! and push against polling with the online share at which they cost the same.

use serde::Serialize;

use crate::error::Error;
use crate::inputs::Workload;
use crate::model::{Arch, Deployment, TierCost};

/// Why eventually consistent polls are not offered as safe, from the store's code: with retention
/// on, a poll skips a gap once the entries around it are old enough for it to be expired entries;
/// DynamoDB does not bound how long a lagging replica can show entry N+1 without N, so such a
/// poll could skip N for good (without retention it would only stall).
pub const EVENTUAL_POLLS_NOTE: &str = "not safe with the current store: the cursor invariant relies on strongly consistent \
     polls (runtime/src/store/dynamodb/feed.rs: with retention a poll skips a gap whose neighbours are old enough to \
     have expired, and DynamoDB does not bound how long an eventually consistent read can miss an entry)";

/// One alternative to the default deployment, priced for every tier.
#[derive(Debug, Serialize)]
pub struct Alternative {
    pub name: &'static str,
    pub note: Option<&'static str>,
    pub totals: Vec<f64>,
    /// Default total minus this one's, per tier (negative: it costs more).
    pub savings: Vec<f64>,
}

/// Every tier priced under one workload and deployment.
pub type PriceAll<'a> = dyn Fn(&Workload, &Deployment) -> Result<Vec<TierCost>, Error> + 'a;

/// The alternatives to `deployment`, each priced for every tier against `tiers`.
pub fn alternatives(
    workload: &Workload,
    deployment: &Deployment,
    tiers: &[TierCost],
    price_all: &PriceAll<'_>,
) -> Result<Vec<Alternative>, Error> {
    let variant = |change: &dyn Fn(&mut Workload, &mut Deployment)| {
        let (mut w, mut d) = (workload.clone(), deployment.clone());
        change(&mut w, &mut d);
        price_all(&w, &d)
    };
    let push =
        if deployment.push { "polling instead of push" } else { "push over the WebSocket API instead of polling" };
    let alternatives: Vec<(&'static str, Option<&'static str>, Vec<TierCost>)> = vec![
        ("Lambda function URL instead of the HTTP API", None, variant(&|_, d| d.function_url = true)?),
        (
            "arm64 instead of x86_64",
            Some("same measured duration assumed; arm64 often runs faster"),
            variant(&|_, d| d.arch = Arch::Arm64)?,
        ),
        ("polling every 5 minutes", None, variant(&|w, _| w.polls_per_user_per_minute /= 5.0)?),
        ("eventually consistent polls", Some(EVENTUAL_POLLS_NOTE), variant(&|_, d| d.eventual_polls = true)?),
        ("Lambda's default logging (vs the deployed)", None, variant(&|_, d| d.default_logging = true)?),
        (push, Some(PUSH_NOTE), variant(&|_, d| d.push = !d.push)?),
        (
            "with conversations: 5 inbox reads, 5 history pages, 10 read marks a user a day",
            Some(CONVERSATIONS_NOTE),
            variant(&|w, _| {
                w.inbox_reads_per_user_per_day += 5.0;
                w.history_pages_per_user_per_day += 5.0;
                w.read_marks_per_user_per_day += 10.0;
            })?,
        ),
    ];
    Ok(alternatives
        .into_iter()
        .map(|(name, note, costs)| Alternative {
            name,
            note,
            savings: tiers.iter().zip(&costs).map(|(base, alt)| base.total - alt.total).collect(),
            totals: costs.iter().map(|c| c.total).collect(),
        })
        .collect())
}

pub const CONVERSATIONS_NOTE: &str = "a client opening its inbox and a few conversations a day, beyond polling \
     or push (`inbox_reads_per_user_per_day`, `history_pages_per_user_per_day`, `read_marks_per_user_per_day` in \
     config/workload.toml, 0 by default)";

pub const PUSH_NOTE: &str = "online clients hold a WebSocket connection and get each message pushed; they poll \
     never (a resume on each connection catches up); `online_share`, `connections_per_user_per_day` and \
     `keepalive_minutes` in config/workload.toml";

/// Push against polling (through the HTTP API, and through a function URL), per tier, and the
/// online share at which push costs as much as each.
#[derive(Debug, Serialize)]
pub struct PushComparison {
    pub online_share: f64,
    pub polling_http_api: Vec<f64>,
    pub polling_function_url: Vec<f64>,
    pub push: Vec<f64>,
    /// The online share at which push costs what polling through the HTTP API does; `None` when
    /// push costs less even with every user online all the time.
    pub break_even_http_api: Vec<Option<f64>>,
    pub break_even_function_url: Vec<Option<f64>>,
}

impl PushComparison {
    pub fn new(workload: &Workload, deployment: &Deployment, price_all: &PriceAll<'_>) -> Result<Self, Error> {
        let totals = |w: &Workload, d: &Deployment| -> Result<Vec<f64>, Error> {
            Ok(price_all(w, d)?.iter().map(|t| t.total).collect())
        };
        let polling = Deployment { push: false, function_url: false, ..deployment.clone() };
        let polling_http_api = totals(workload, &polling)?;
        let polling_function_url = totals(workload, &Deployment { function_url: true, ..polling.clone() })?;
        let pushing = Deployment { push: true, ..polling };
        let push = totals(workload, &pushing)?;
        let at_share = |share: f64| {
            let w = Workload { online_share: share, ..workload.clone() };
            totals(&w, &pushing)
        };
        let break_even = |polling: &[f64]| -> Result<Vec<Option<f64>>, Error> {
            (0..polling.len()).map(|tier| break_even(polling[tier], &|share| Ok(at_share(share)?[tier]))).collect()
        };
        Ok(Self {
            online_share: workload.online_share,
            break_even_http_api: break_even(&polling_http_api)?,
            break_even_function_url: break_even(&polling_function_url)?,
            polling_http_api,
            polling_function_url,
            push,
        })
    }
}

/// The online share in [0, 1] at which `push_total` (which grows with the share) reaches
/// `polling`, to 0.01 %; `None` if it stays below it at 1, `Some(0)` if it is above it at 0.
fn break_even(polling: f64, push_total: &dyn Fn(f64) -> Result<f64, Error>) -> Result<Option<f64>, Error> {
    if push_total(1.0)? < polling {
        return Ok(None);
    }
    let (mut low, mut high) = (0.0, 1.0);
    if push_total(low)? >= polling {
        return Ok(Some(0.0));
    }
    while high - low > 1e-4 {
        let middle = (low + high) / 2.0;
        if push_total(middle)? < polling { low = middle } else { high = middle }
    }
    Ok(Some(high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_break_even_share_is_where_push_reaches_polling() {
        let linear = |share: f64| Ok(100.0 + 1000.0 * share);
        let half = break_even(600.0, &linear).unwrap().expect("reached at half");
        assert!((half - 0.5).abs() <= 1e-4, "{half}");
        assert_eq!(break_even(2000.0, &linear).unwrap(), None, "push costs less even at 100 %");
        assert_eq!(break_even(50.0, &linear).unwrap(), Some(0.0), "push costs more even at 0 %");
    }
}
