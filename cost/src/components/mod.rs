//! Pricing each component of the bill: one module per AWS service, each putting its figures
//! and formulas in the ledger as it computes them.

mod api_gateway;
mod dynamodb;
mod lambda;
mod secrets;
mod storage;
mod transfer;

use contract::usage::MeasuredUsage;

use crate::inputs::{Pricing, Workload};
use crate::invocation::{Invocations, Measured};
use crate::ledger::Ledger;
use crate::model::{Component, Deployment};
use crate::traffic::Traffic;

/// Everything a component's price depends on, for one tier.
pub struct Tier<'a> {
    pub traffic: &'a Traffic,
    pub workload: &'a Workload,
    pub pricing: &'a Pricing,
    pub deployment: &'a Deployment,
    pub usage: &'a MeasuredUsage,
    pub measured: &'a Measured,
    pub invocations: &'a [Invocations],
}

impl Tier<'_> {
    /// `amount` when the free tier is subtracted, else nothing.
    fn free(&self, amount: f64) -> f64 {
        if self.deployment.free_tier { amount } else { 0.0 }
    }

    /// How much longer the workload's texts are than the measured ones, in bytes.
    fn text_delta(&self) -> f64 {
        self.workload.text_bytes - self.usage.text_bytes as f64
    }
}

/// The priced components, in [`Component::ALL`] order, and the function's busy milliseconds (for
/// the concurrency quota).
pub struct Priced {
    pub components: Vec<(Component, f64)>,
    pub busy_ms: f64,
}

pub fn price(tier: &Tier<'_>, ledger: &mut Ledger) -> Priced {
    let http_api = api_gateway::http(tier, ledger);
    let websocket_api = api_gateway::websocket(tier, ledger);
    let lambda = lambda::price(tier, ledger);
    let dynamodb = dynamodb::price(tier, ledger);
    let logs = storage::logs(tier, ledger);
    let transfer = transfer::price(tier, ledger);
    let ecr = storage::ecr(tier, ledger);
    let secrets = secrets::price(tier, lambda.busy_ms, ledger);
    Priced {
        components: vec![
            (Component::HttpApi, http_api),
            (Component::WebsocketApi, websocket_api),
            (Component::LambdaRequests, lambda.requests),
            (Component::LambdaDuration, lambda.duration),
            (Component::DynamodbReads, dynamodb.reads),
            (Component::DynamodbWrites, dynamodb.writes),
            (Component::DynamodbStorage, dynamodb.storage),
            (Component::DynamodbPitr, dynamodb.pitr),
            (Component::Logs, logs),
            (Component::DataTransfer, transfer),
            (Component::Ecr, ecr),
            (Component::SecretsManager, secrets),
        ],
        busy_ms: lambda.busy_ms,
    }
}
