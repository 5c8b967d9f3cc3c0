//! What is kept rather than requested: CloudWatch Logs (ingestion and retention) and the
//! function's images in ECR.

use super::Tier;
use crate::format::num;
use crate::invocation;
use crate::ledger::Ledger;
use crate::model::{DAYS_PER_MONTH, GB};

pub fn logs(tier: &Tier<'_>, l: &mut Ledger) -> f64 {
    let (p, w, d) = (tier.pricing, tier.workload, tier.deployment);
    let invocations = invocation::total(tier.invocations);
    let log_bytes = if d.default_logging { w.default_log_bytes_per_request } else { w.log_bytes_per_request };
    let function_gb = invocations * log_bytes / GB;
    // One access log line per request through the HTTP API (a function URL has no stage).
    let access_line = contract::edge::access_log_line_bytes() as f64;
    let access_requests = if d.access_logs && !d.function_url { tier.traffic.requests } else { 0.0 };
    let access_gb = l.put(
        "access logs ingested",
        access_requests * access_line / GB,
        "GB",
        format!(
            "{} HTTP API requests × {} B (the stage's JSON line with typical values, and CloudWatch's 26 B per event) / 2^30",
            num(access_requests),
            num(access_line)
        ),
    );
    let ingested_gb = l.put(
        "logs ingested",
        function_gb + access_gb,
        "GB",
        format!(
            "{} invocations × {} B / 2^30 + {} GB of access logs",
            num(invocations),
            num(log_bytes),
            num(access_gb)
        ),
    );
    let kept_gb = ingested_gb / DAYS_PER_MONTH * d.log_retention_days;
    l.put(
        "CloudWatch Logs",
        (ingested_gb - tier.free(p.free_tier.logs_ingestion_gb)).max(0.0) * p.cloudwatch_logs.ingestion_per_gb
            + kept_gb * p.cloudwatch_logs.storage_per_gb_month,
        "USD",
        format!(
            "{} GB × ${} ingestion + {} GB kept ({} days) × ${}",
            num(ingested_gb),
            num(p.cloudwatch_logs.ingestion_per_gb),
            num(kept_gb),
            num(d.log_retention_days),
            num(p.cloudwatch_logs.storage_per_gb_month)
        ),
    )
}

pub fn ecr(tier: &Tier<'_>, l: &mut Ledger) -> f64 {
    let (p, w) = (tier.pricing, tier.workload);
    let image_gb = w.image_bytes * w.images_kept / GB;
    l.put(
        "ECR storage",
        (image_gb - tier.free(p.free_tier.ecr_storage_gb)).max(0.0) * p.ecr.storage_per_gb_month,
        "USD",
        format!(
            "{} images × {} B / 2^30 = {} GB × ${}",
            num(w.images_kept),
            num(w.image_bytes),
            num(image_gb),
            num(p.ecr.storage_per_gb_month)
        ),
    )
}
