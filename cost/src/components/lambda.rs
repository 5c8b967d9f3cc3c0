//! Lambda: requests, and duration billed per millisecond at the memory size — CPU time slowed
//! by the memory's share of a vCPU, plus the round trips the function waits for.

use super::Tier;
use crate::format::{num, tiers_text};
use crate::inputs::tiered;
use crate::invocation;
use crate::ledger::Ledger;
use crate::model::Arch;

pub struct Lambda {
    pub requests: f64,
    pub duration: f64,
    /// Milliseconds the function is busy in the month, for the concurrency quota.
    pub busy_ms: f64,
}

pub fn price(tier: &Tier<'_>, l: &mut Ledger) -> Lambda {
    let (p, w, d) = (tier.pricing, tier.workload, tier.deployment);
    let billable_invocations = (invocation::total(tier.invocations) - tier.free(p.free_tier.lambda_requests)).max(0.0);
    let requests = l.put(
        "Lambda requests",
        billable_invocations / 1e6 * p.lambda.per_million_requests,
        "USD",
        format!("{} million invocations × ${}", num(billable_invocations / 1e6), num(p.lambda.per_million_requests)),
    );
    let cpu_scale = (p.lambda.mb_per_vcpu / d.memory_mb).max(1.0);
    l.put(
        "CPU slowdown at the memory size",
        cpu_scale,
        "×",
        format!("max(1, {} MB per vCPU / {} MB)", num(p.lambda.mb_per_vcpu), num(d.memory_mb)),
    );
    let (mut gb_seconds, mut busy_ms) = (0.0, 0.0);
    for i in tier.invocations {
        let round_trips = i.usage.dynamodb_requests as f64 + i.post_round_trips;
        let billed = (i.usage.lambda_cpu_ms * cpu_scale + round_trips * w.dynamodb_round_trip_ms).ceil().max(1.0);
        l.put(
            &format!("billed duration, {}", i.kind.label()),
            billed,
            "ms",
            format!(
                "⌈{} ms CPU × {} + ({} DynamoDB requests + {} rounds of posts) × {} ms⌉",
                num(i.usage.lambda_cpu_ms),
                num(cpu_scale),
                i.usage.dynamodb_requests,
                num(i.post_round_trips),
                num(w.dynamodb_round_trip_ms)
            ),
        );
        gb_seconds += i.count * billed / 1000.0 * d.memory_mb / 1024.0;
        busy_ms += i.count * billed;
    }
    let gb_seconds = l.put(
        "GB-seconds",
        gb_seconds,
        "GB-s",
        format!("Σ requests × billed ms / 1000 × {} MB / 1024", num(d.memory_mb)),
    );
    let billable_gbs = (gb_seconds - tier.free(p.free_tier.lambda_gb_seconds)).max(0.0);
    let (arch_tiers, arch) = match d.arch {
        Arch::X86_64 => (&p.lambda.x86_64_per_gb_second, "x86_64"),
        Arch::Arm64 => (&p.lambda.arm64_per_gb_second, "arm64"),
    };
    let duration = l.put(
        "Lambda duration",
        tiered(billable_gbs, arch_tiers),
        "USD",
        format!("{} GB-s at {arch} {}", num(billable_gbs), tiers_text(arch_tiers, "per GB-s")),
    );
    Lambda { requests, duration, busy_ms }
}
