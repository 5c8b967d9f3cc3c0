//! AWS's default quotas a tier would cross at its peak, and the hottest DynamoDB partitions.

use crate::format::num;
use crate::inputs::Workload;
use crate::invocation::Measured;
use crate::ledger::Ledger;
use crate::model::{DAYS_PER_MONTH, Deployment, SECONDS_PER_MONTH};
use crate::traffic::Traffic;

pub const API_GATEWAY_ACCOUNT_RPS: f64 = 10_000.0;
pub const LAMBDA_CONCURRENCY: f64 = 1_000.0;
pub const WEBSOCKET_NEW_CONNECTIONS: f64 = 500.0;
pub const PARTITION_RCU: f64 = 3_000.0;
pub const PARTITION_WCU: f64 = 1_000.0;
/// DynamoDB's default table-level throughput quota of an on-demand table, read and write units
/// per second ("DynamoDB maximum throughput for on-demand tables", Developer Guide).
pub const TABLE_QUOTA_UNITS: f64 = 40_000.0;
/// Write units of one feed entry of up to 1 KB: its put and its head's update, both inside a
/// transaction, which DynamoDB bills twice.
const FEED_ENTRY_WRITE_UNITS: f64 = 4.0;

/// A quota: its figure at the tier's peak, its limit, and the warning when over it.
struct Quota {
    value: f64,
    limit: f64,
    warning: fn(value: f64, limit: f64) -> String,
}

/// The warnings for a tier; the figures behind them go into the ledger.
pub fn check(t: &Traffic, w: &Workload, d: &Deployment, m: &Measured, busy_ms: f64, l: &mut Ledger) -> Vec<String> {
    let new_connections = t.connections / SECONDS_PER_MONTH * w.peak_factor;
    let concurrency = l.put(
        "peak concurrency",
        busy_ms / 1000.0 / SECONDS_PER_MONTH * w.peak_factor,
        "executions",
        format!("{} busy ms / 1000 / {} s × {} peak factor", num(busy_ms), num(SECONDS_PER_MONTH), num(w.peak_factor)),
    );
    // The hottest partitions: a group item is read by every message to the group, and a feed head
    // is written by every message its user receives.
    let group_reads = l.put(
        "hot group item reads",
        w.messages_per_user_per_day * w.group_share * w.group_size / 86_400.0
            * w.peak_factor
            * (m.group.read_units - w.group_size).max(1.0),
        "RCU",
        format!(
            "{} members × {} group messages/day each / 86,400 s × {} peak × the group item's read units",
            num(w.group_size),
            num(w.messages_per_user_per_day * w.group_share),
            num(w.peak_factor)
        ),
    );
    let feed_writes = l.put(
        "hot feed writes",
        t.entries / t.users / (DAYS_PER_MONTH * 86_400.0) * w.peak_factor * FEED_ENTRY_WRITE_UNITS,
        "WCU",
        format!(
            "{} entries per user per month / {} s × {} peak × {} WCU (head update and entry put, transactional)",
            num(t.entries / t.users),
            num(DAYS_PER_MONTH * 86_400.0),
            num(w.peak_factor),
            num(FEED_ENTRY_WRITE_UNITS)
        ),
    );
    let peak_units = |name: &str| l.value(name).unwrap_or(0.0) / SECONDS_PER_MONTH * w.peak_factor;
    let (read_peak, write_peak) = (peak_units("read request units"), peak_units("write request units"));
    let read_peak = l.put(
        "peak read units per second",
        read_peak,
        "RRU/s",
        format!("read request units / {} s × {} peak factor (both tables)", num(SECONDS_PER_MONTH), num(w.peak_factor)),
    );
    let write_peak = l.put(
        "peak write units per second",
        write_peak,
        "WRU/s",
        format!(
            "write request units / {} s × {} peak factor (both tables)",
            num(SECONDS_PER_MONTH),
            num(w.peak_factor)
        ),
    );
    let ceiling = |configured: f64| if configured > 0.0 { configured } else { TABLE_QUOTA_UNITS };
    let http_peak = if d.function_url { 0.0 } else { t.peak_requests_per_second };
    let quotas = [
        Quota {
            value: http_peak,
            limit: API_GATEWAY_ACCOUNT_RPS,
            warning: |v, q| {
                format!(
                    "peak {} req/s exceeds API Gateway's default account throttle of {} req/s per region",
                    num(v.round()),
                    num(q)
                )
            },
        },
        Quota {
            value: new_connections,
            limit: WEBSOCKET_NEW_CONNECTIONS,
            warning: |v, q| {
                format!(
                    "peak {} new WebSocket connections/s exceeds API Gateway's default {} per second per account",
                    num(v.round()),
                    num(q)
                )
            },
        },
        Quota {
            value: concurrency,
            limit: LAMBDA_CONCURRENCY,
            warning: |v, q| {
                format!(
                    "peak concurrency {} exceeds Lambda's default {} concurrent executions per region",
                    num(v.round()),
                    num(q)
                )
            },
        },
        Quota {
            value: group_reads,
            limit: PARTITION_RCU,
            warning: |v, q| {
                format!("a group's item takes {} RCU at peak: over a DynamoDB partition's {} RCU", num(v), num(q))
            },
        },
        Quota {
            value: read_peak,
            limit: ceiling(d.table_max_read_units),
            warning: |v, q| {
                format!(
                    "peak {} read units/s over the tables' maximum of {} per table: raise table_max_read_units \
                     (past 40,000, after a table quota increase)",
                    num(v.round()),
                    num(q)
                )
            },
        },
        Quota {
            value: write_peak,
            limit: ceiling(d.table_max_write_units),
            warning: |v, q| {
                format!(
                    "peak {} write units/s over the tables' maximum of {} per table: raise table_max_write_units \
                     (past 40,000, after a table quota increase)",
                    num(v.round()),
                    num(q)
                )
            },
        },
        Quota {
            value: feed_writes,
            limit: PARTITION_WCU,
            warning: |v, q| format!("a feed takes {} WCU at peak: over a DynamoDB partition's {} WCU", num(v), num(q)),
        },
    ];
    quotas.iter().filter(|q| q.value > q.limit).map(|q| (q.warning)(q.value, q.limit)).collect()
}
