//! DynamoDB on demand: request units as measured per invocation, storage of the retained feed
//! entries, and point-in-time recovery of that storage.

use super::Tier;
use crate::format::num;
use crate::ledger::Ledger;
use crate::model::{DAYS_PER_MONTH, GB};

pub struct Dynamodb {
    pub reads: f64,
    pub writes: f64,
    pub storage: f64,
    pub pitr: f64,
}

pub fn price(tier: &Tier<'_>, l: &mut Ledger) -> Dynamodb {
    let (reads, writes) = units(tier, l);
    let (storage, pitr) = storage(tier, l);
    Dynamodb { reads, writes, storage, pitr }
}

fn units(tier: &Tier<'_>, l: &mut Ledger) -> (f64, f64) {
    let (p, d) = (tier.pricing, tier.deployment);
    let poll_read_scale = if d.eventual_polls { 0.5 } else { 1.0 };
    let (mut read_units, mut write_units) = (0.0, 0.0);
    for i in tier.invocations {
        let scale = if i.kind.is_poll() { poll_read_scale } else { 1.0 };
        read_units += i.count * i.usage.read_units * scale;
        write_units += i.count * i.usage.write_units;
    }
    let measured_reads: Vec<String> =
        tier.invocations.iter().map(|i| format!("{} per {}", num(i.usage.read_units), i.kind.label())).collect();
    let read_units = l.put(
        "read request units",
        read_units,
        "RRU",
        format!(
            "Σ invocations × measured units ({}){}",
            measured_reads.join(", "),
            if d.eventual_polls { "; polls eventually consistent: × 0.5" } else { "" }
        ),
    );
    let measured_writes: Vec<String> = tier
        .invocations
        .iter()
        .filter(|i| i.usage.write_units > 0.0)
        .map(|i| format!("{} per {}", num(i.usage.write_units), i.kind.label()))
        .collect();
    let write_units = l.put(
        "write request units",
        write_units,
        "WRU",
        format!(
            "Σ invocations × measured units ({}; a group message of {} members)",
            measured_writes.join(", "),
            num(tier.workload.group_size)
        ),
    );
    let reads = l.put(
        "DynamoDB reads",
        read_units / 1e6 * p.dynamodb.per_million_read_units,
        "USD",
        format!("{} million RRU × ${}", num(read_units / 1e6), num(p.dynamodb.per_million_read_units)),
    );
    let writes = l.put(
        "DynamoDB writes",
        write_units / 1e6 * p.dynamodb.per_million_write_units,
        "USD",
        format!("{} million WRU × ${}", num(write_units / 1e6), num(p.dynamodb.per_million_write_units)),
    );
    (reads, writes)
}

fn storage(tier: &Tier<'_>, l: &mut Ledger) -> (f64, f64) {
    let (p, w, usage) = (tier.pricing, tier.workload, tier.usage);
    let text_delta = tier.text_delta();
    let entries = tier.traffic.entries;
    let entry_bytes = usage.feed_entry_bytes as f64 + text_delta + p.dynamodb.item_overhead_bytes;
    let stored_gb = l.put(
        "feed storage",
        entries / DAYS_PER_MONTH * w.retention_days * entry_bytes / GB,
        "GB",
        format!(
            "{} entries/day × {} days retained × ({} B measured entry {:+} B text + {} B overhead) / 2^30",
            num(entries / DAYS_PER_MONTH),
            num(w.retention_days),
            usage.feed_entry_bytes,
            text_delta,
            num(p.dynamodb.item_overhead_bytes)
        ),
    );
    let storage = l.put(
        "DynamoDB storage",
        (stored_gb - tier.free(p.free_tier.dynamodb_storage_gb)).max(0.0) * p.dynamodb.storage_per_gb_month,
        "USD",
        format!("{} GB × ${}", num(stored_gb), num(p.dynamodb.storage_per_gb_month)),
    );
    let pitr = if tier.deployment.point_in_time_recovery {
        l.put(
            "DynamoDB PITR",
            stored_gb * p.dynamodb.point_in_time_recovery_per_gb_month,
            "USD",
            format!("{} GB × ${}", num(stored_gb), num(p.dynamodb.point_in_time_recovery_per_gb_month)),
        )
    } else {
        l.put("DynamoDB PITR", 0.0, "USD", "point-in-time recovery off".into())
    };
    (storage, pitr)
}
