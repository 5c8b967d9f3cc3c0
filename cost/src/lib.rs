//! The cost model: the monthly AWS bill of a deployment for each user tier, from the list prices
//! in `config/pricing.toml`, the workload in `config/workload.toml` and the per-operation usage
//! measured into `config/usage.toml` — with where the money goes, the switches that save the
//! most, and the default quotas a tier would cross. `provisioner cost-report` is its command.
//!
//! One tier is priced in steps, each its own module: [`traffic`] (what the users do), then
//! [`invocation`] (which function invocations that makes, with their measured usage), then one
//! module per AWS service under `components`, then `quotas`; each figure goes into the
//! [`ledger`] with its formula as it is computed.

pub mod alternatives;
mod components;
pub mod error;
pub mod flags;
pub mod format;
pub mod inputs;
pub mod invocation;
pub mod ledger;
pub mod model;
pub mod output;
mod quotas;
pub mod traffic;

use contract::deploy::DeploySettings;
use contract::usage::MeasuredUsage;
use serde::Serialize;

use self::alternatives::{Alternative, PushComparison};
pub use self::error::Error;
pub use self::flags::CostArgs;
use self::inputs::{Pricing, Workload};
use self::model::{Arch, Deployment, TierCost, price_tier};

#[derive(Debug, Serialize)]
pub struct CostReport {
    pub workload: Workload,
    pub deployment: Deployment,
    pub usage_measured_on: String,
    pub tiers: Vec<TierCost>,
    pub alternatives: Vec<Alternative>,
    pub push: PushComparison,
}

/// Prices every tier of the workload; the deployment's memory, PITR and log retention come from
/// the deploy settings.
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
        access_logs: deploy.access_logs,
        free_tier: args.free_tier,
        push: args.push,
        table_max_read_units: deploy.table_max_read_units as f64,
        table_max_write_units: deploy.table_max_write_units as f64,
    };
    let price_all = |w: &Workload, d: &Deployment| -> Result<Vec<TierCost>, Error> {
        w.users.iter().map(|&users| price_tier(users, w, &usage, &pricing, d)).collect()
    };
    let tiers = price_all(&workload, &deployment)?;
    let alternatives = alternatives::alternatives(&workload, &deployment, &tiers, &price_all)?;
    if let Some(users) = args.explain.filter(|users| !workload.users.contains(users)) {
        return Err(Error::Input(format!("--explain {users}: not one of the tiers {:?}", workload.users)));
    }
    let push = PushComparison::new(&workload, &deployment, &price_all)?;
    Ok(CostReport { workload, deployment, usage_measured_on: usage.measured(), tiers, alternatives, push })
}
