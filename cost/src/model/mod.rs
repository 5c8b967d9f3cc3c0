//! The monthly bill of one tier: its traffic derived from the workload, its invocations with
//! their measured usage, each component priced by its own module, then the quotas — every figure
//! computed once, with its formula and inputs kept for `--explain`.

use contract::usage::{MeasuredUsage, Operation};
use serde::Serialize;

use crate::components::{self, Priced};
use crate::error::Error;
use crate::format::num;
use crate::inputs::{Pricing, Workload};
use crate::invocation::{self, Measured};
use crate::ledger::{Ledger, Line};
use crate::quotas;
use crate::traffic::Traffic;

/// A month, as AWS's pricing calculator counts it.
pub const HOURS_PER_MONTH: f64 = 730.0;
pub const MINUTES_PER_MONTH: f64 = HOURS_PER_MONTH * 60.0;
pub const DAYS_PER_MONTH: f64 = HOURS_PER_MONTH / 24.0;
pub const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;
pub const GB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    HttpApi,
    WebsocketApi,
    LambdaRequests,
    LambdaDuration,
    DynamodbReads,
    DynamodbWrites,
    DynamodbStorage,
    DynamodbPitr,
    Logs,
    DataTransfer,
    Ecr,
    SecretsManager,
}

impl Component {
    pub const ALL: [Component; 12] = [
        Self::HttpApi,
        Self::WebsocketApi,
        Self::LambdaRequests,
        Self::LambdaDuration,
        Self::DynamodbReads,
        Self::DynamodbWrites,
        Self::DynamodbStorage,
        Self::DynamodbPitr,
        Self::Logs,
        Self::DataTransfer,
        Self::Ecr,
        Self::SecretsManager,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::HttpApi => "API Gateway HTTP API",
            Self::WebsocketApi => "API Gateway WebSocket API",
            Self::LambdaRequests => "Lambda requests",
            Self::LambdaDuration => "Lambda duration",
            Self::DynamodbReads => "DynamoDB reads",
            Self::DynamodbWrites => "DynamoDB writes",
            Self::DynamodbStorage => "DynamoDB storage",
            Self::DynamodbPitr => "DynamoDB PITR",
            Self::Logs => "CloudWatch Logs",
            Self::DataTransfer => "Data transfer out",
            Self::Ecr => "ECR storage",
            Self::SecretsManager => "Secrets Manager",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Arm64,
}

/// The deployment choices a bill depends on.
#[derive(Clone, Debug, Serialize)]
pub struct Deployment {
    pub memory_mb: f64,
    pub point_in_time_recovery: bool,
    pub log_retention_days: f64,
    pub arch: Arch,
    /// A Lambda function URL instead of the HTTP API (no API Gateway charge).
    pub function_url: bool,
    /// Polls read eventually consistently (half the read units).
    pub eventual_polls: bool,
    /// Lambda's default logging instead of the deployed configuration.
    pub default_logging: bool,
    /// The HTTP API stage's access log, a line per request (none with a function URL).
    pub access_logs: bool,
    pub free_tier: bool,
    /// Clients hold a WebSocket connection while online and get messages pushed, instead of
    /// polling.
    pub push: bool,
    /// Each table's on-demand maximum read and write request units per second (0: none, so
    /// the account's table quota).
    pub table_max_read_units: f64,
    pub table_max_write_units: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TierCost {
    pub users: u64,
    pub requests_per_second: f64,
    pub peak_requests_per_second: f64,
    /// USD per month, per component, in [`Component::ALL`] order.
    pub components: Vec<(Component, f64)>,
    pub total: f64,
    pub per_user: f64,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub explain: Vec<Line>,
}

impl TierCost {
    pub fn cost(&self, component: Component) -> f64 {
        self.components.iter().find(|(c, _)| *c == component).map_or(0.0, |(_, v)| *v)
    }
}

/// Prices one tier of `users`.
pub fn price_tier(
    users: u64,
    workload: &Workload,
    usage: &MeasuredUsage,
    pricing: &Pricing,
    deployment: &Deployment,
) -> Result<TierCost, Error> {
    let mut ledger = Ledger::default();
    // What one entry adds to a resume's frame, at most: the measured resume of one entry.
    let entry_frame_bytes = usage.operation(Operation::WsResume).map_or(0, |resume| resume.response_bytes) as f64;
    let traffic = Traffic::derive(users, workload, pricing, deployment, entry_frame_bytes, &mut ledger);
    let measured = Measured::new(usage, workload, deployment)?;
    let invocations = invocation::mix(&traffic, workload, &measured, &mut ledger);
    let tier = components::Tier {
        traffic: &traffic,
        workload,
        pricing,
        deployment,
        usage,
        measured: &measured,
        invocations: &invocations,
    };
    let Priced { components, busy_ms } = components::price(&tier, &mut ledger);
    let total = ledger.put("total", components.iter().map(|(_, v)| v).sum(), "USD", "the sum of the components".into());
    let per_user =
        ledger.put("per user", total / traffic.users, "USD", format!("{} / {} users", num(total), num(traffic.users)));
    let warnings = quotas::check(&traffic, workload, deployment, &measured, busy_ms, &mut ledger);
    Ok(TierCost {
        users,
        requests_per_second: traffic.requests_per_second,
        peak_requests_per_second: traffic.peak_requests_per_second,
        components,
        total,
        per_user,
        warnings,
        explain: ledger.into_lines(),
    })
}

#[cfg(test)]
mod tests;
