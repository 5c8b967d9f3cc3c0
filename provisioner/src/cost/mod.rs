//! `provisioner cost-report`: the monthly AWS bill for each user tier, from the list prices in
//! `config/pricing.toml`, the workload in `config/workload.toml` and the per-operation usage
//! measured into `config/usage.toml` — with where the money goes, the switches that save the
//! most, and the default quotas a tier would cross.

pub mod chart;
pub mod inputs;
pub mod model;
pub mod output;

use std::path::PathBuf;

use runtime::store::dynamodb::metrics::MeasuredUsage;
use serde::Serialize;

use self::inputs::{Pricing, Workload};
use self::model::{Arch, Deployment, TierCost, price_tier};
use crate::error::Error;
use crate::settings::DeploySettings;

/// Why eventually consistent polls are not offered as safe, from the store's code: with retention
/// on, a poll skips a gap once the entries around it are old enough for it to be expired entries;
/// DynamoDB does not bound how long a lagging replica can show entry N+1 without N, so such a
/// poll could skip N for good (without retention it would only stall).
pub const EVENTUAL_POLLS_NOTE: &str = "not safe with the current store: the cursor invariant relies on strongly consistent \
     polls (runtime/src/store/dynamodb/mod.rs: with retention a poll skips a gap whose neighbours are old enough to \
     have expired, and DynamoDB does not bound how long an eventually consistent read can miss an entry)";

#[derive(Clone, Debug, clap::Args)]
pub struct CostArgs {
    /// List prices.
    #[arg(long, default_value = "config/pricing.toml")]
    pub pricing: PathBuf,
    /// The workload.
    #[arg(long, default_value = "config/workload.toml")]
    pub workload: PathBuf,
    /// Per-operation usage, measured by `cargo xtask measure-usage`.
    #[arg(long, default_value = "config/usage.toml")]
    pub usage: PathBuf,
    /// Subtract AWS's free tier (off by default: part of it lasts only 12 months).
    #[arg(long)]
    pub free_tier: bool,
    /// Every figure of the tier with this many users, with its formula and inputs.
    #[arg(long)]
    pub explain: Option<u64>,
    /// Price push over the WebSocket API as the deployment (what `--explain` shows, and what the
    /// alternatives are compared with) instead of polling.
    #[arg(long)]
    pub push: bool,
    /// Also draw the monthly cost by component against users into this SVG file.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    #[command(flatten)]
    pub workload_flags: WorkloadFlags,
}

/// One flag per key of `config/workload.toml`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct WorkloadFlags {
    /// User tiers, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub users: Option<Vec<u64>>,
    #[arg(long)]
    pub polls_per_user_per_minute: Option<f64>,
    #[arg(long)]
    pub messages_per_user_per_day: Option<f64>,
    #[arg(long)]
    pub group_share: Option<f64>,
    #[arg(long)]
    pub group_size: Option<f64>,
    #[arg(long)]
    pub text_bytes: Option<f64>,
    #[arg(long)]
    pub retention_days: Option<f64>,
    #[arg(long)]
    pub log_bytes_per_request: Option<f64>,
    #[arg(long)]
    pub default_log_bytes_per_request: Option<f64>,
    #[arg(long)]
    pub dynamodb_round_trip_ms: Option<f64>,
    #[arg(long)]
    pub response_header_bytes: Option<f64>,
    #[arg(long)]
    pub peak_factor: Option<f64>,
    #[arg(long)]
    pub image_bytes: Option<f64>,
    #[arg(long)]
    pub images_kept: Option<f64>,
    #[arg(long)]
    pub online_share: Option<f64>,
    #[arg(long)]
    pub connections_per_user_per_day: Option<f64>,
    #[arg(long)]
    pub keepalive_minutes: Option<f64>,
}

impl WorkloadFlags {
    fn apply(&self, mut w: Workload) -> Result<Workload, Error> {
        let f = self.clone();
        macro_rules! take { ($($key:ident),*) => { $( if let Some(v) = f.$key { w.$key = v; } )* }; }
        take!(
            users,
            polls_per_user_per_minute,
            messages_per_user_per_day,
            group_share,
            group_size,
            text_bytes,
            retention_days,
            log_bytes_per_request,
            default_log_bytes_per_request,
            dynamodb_round_trip_ms,
            response_header_bytes,
            peak_factor,
            image_bytes,
            images_kept,
            online_share,
            connections_per_user_per_day,
            keepalive_minutes
        );
        let bad = |key: &str, why: &str| Err(Error::Config(format!("workload: {key} {why}")));
        if w.users.is_empty() || w.users.contains(&0) {
            return bad("users", "must list tiers of at least one user");
        }
        if !(0.0..=1.0).contains(&w.group_share) {
            return bad("group_share", "must be from 0 to 1");
        }
        if !(0.0..=1.0).contains(&w.online_share) {
            return bad("online_share", "must be from 0 to 1");
        }
        if !(w.keepalive_minutes > 0.0 && w.keepalive_minutes < 10.0) {
            return bad("keepalive_minutes", "must be above 0 and under API Gateway's 10-minute idle timeout");
        }
        if w.group_size < 2.0 {
            return bad("group_size", "must be at least 2");
        }
        let numbers = [
            w.polls_per_user_per_minute,
            w.messages_per_user_per_day,
            w.text_bytes,
            w.retention_days,
            w.peak_factor,
            w.connections_per_user_per_day,
        ];
        if numbers.iter().any(|n| !n.is_finite() || *n < 0.0) {
            return bad("rates and sizes", "must be numbers of 0 or more");
        }
        Ok(w)
    }
}

/// One alternative to the default deployment, priced for every tier.
#[derive(Debug, Serialize)]
pub struct Alternative {
    pub name: &'static str,
    pub note: Option<&'static str>,
    pub totals: Vec<f64>,
    /// Default total minus this one's, per tier (negative: it costs more).
    pub savings: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct CostReport {
    pub workload: Workload,
    pub deployment: Deployment,
    pub usage_measured_on: String,
    pub tiers: Vec<TierCost>,
    pub alternatives: Vec<Alternative>,
    pub push: PushComparison,
}

pub fn run(args: &CostArgs, deploy: &DeploySettings) -> Result<CostReport, Error> {
    let pricing: Pricing = inputs::load(&args.pricing)?;
    let workload = args.workload_flags.apply(inputs::load(&args.workload)?)?;
    let usage: MeasuredUsage = inputs::load(&args.usage)?;
    let deployment = Deployment {
        memory_mb: f64::from(deploy.memory_mb),
        point_in_time_recovery: deploy.point_in_time_recovery,
        log_retention_days: f64::from(deploy.log_retention_days),
        arch: Arch::X86_64,
        function_url: false,
        eventual_polls: false,
        default_logging: false,
        free_tier: args.free_tier,
        push: args.push,
    };
    let price_all = |w: &Workload, d: &Deployment| -> Result<Vec<TierCost>, Error> {
        w.users.iter().map(|&users| price_tier(users, w, &usage, &pricing, d)).collect()
    };
    let tiers = price_all(&workload, &deployment)?;
    let variant = |change: &dyn Fn(&mut Workload, &mut Deployment)| {
        let (mut w, mut d) = (workload.clone(), deployment.clone());
        change(&mut w, &mut d);
        price_all(&w, &d)
    };
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
        (
            if args.push { "polling instead of push" } else { "push over the WebSocket API instead of polling" },
            Some(PUSH_NOTE),
            variant(&|_, d| d.push = !d.push)?,
        ),
    ];
    let alternatives = alternatives
        .into_iter()
        .map(|(name, note, costs)| Alternative {
            name,
            note,
            savings: tiers.iter().zip(&costs).map(|(base, alt)| base.total - alt.total).collect(),
            totals: costs.iter().map(|c| c.total).collect(),
        })
        .collect();
    if let Some(users) = args.explain.filter(|users| !workload.users.contains(users)) {
        return Err(Error::Config(format!("--explain {users}: not one of the tiers {:?}", workload.users)));
    }
    let push = PushComparison::new(&workload, &deployment, &|w, d| price_all(w, d))?;
    Ok(CostReport { workload, deployment, usage_measured_on: usage.measured_on, tiers, alternatives, push })
}

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

type PriceAll<'a> = dyn Fn(&Workload, &Deployment) -> Result<Vec<TierCost>, Error> + 'a;

impl PushComparison {
    fn new(workload: &Workload, deployment: &Deployment, price_all: &PriceAll<'_>) -> Result<Self, Error> {
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
