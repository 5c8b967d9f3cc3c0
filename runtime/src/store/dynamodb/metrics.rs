//! Requests made and capacity consumed, per store operation: what the request budget tests assert
//! and what the cost report prices.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::ConsumedCapacity;
use serde::Serialize;

/// Totals for one store operation (`"poll"`, `"send_direct"`, …) since start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OperationCost {
    /// Store calls of this operation.
    pub calls: u64,
    /// DynamoDB requests they made, retries by this store included.
    pub requests: u64,
    pub read_units: f64,
    pub write_units: f64,
}

/// What one store call spent; added to the totals when the call ends.
#[derive(Debug, Default)]
pub struct Tally {
    requests: u64,
    read_units: f64,
    write_units: f64,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Read,
    Write,
}

impl Tally {
    /// Counts one request and the capacity DynamoDB reported for it. Where DynamoDB reports only
    /// a total (`CapacityUnits`), `kind` says which side it counts on.
    pub fn request<'a>(&mut self, kind: Kind, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        self.requests += 1;
        for capacity in consumed {
            match (capacity.read_capacity_units(), capacity.write_capacity_units()) {
                (None, None) => match kind {
                    Kind::Read => self.read_units += capacity.capacity_units().unwrap_or(0.0),
                    Kind::Write => self.write_units += capacity.capacity_units().unwrap_or(0.0),
                },
                (read, write) => {
                    self.read_units += read.unwrap_or(0.0);
                    self.write_units += write.unwrap_or(0.0);
                }
            }
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    totals: Mutex<BTreeMap<&'static str, OperationCost>>,
}

impl Metrics {
    pub fn add(&self, operation: &'static str, tally: Tally) {
        let mut totals = self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cost = totals.entry(operation).or_default();
        cost.calls += 1;
        cost.requests += tally.requests;
        cost.read_units += tally.read_units;
        cost.write_units += tally.write_units;
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, OperationCost> {
        self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}
