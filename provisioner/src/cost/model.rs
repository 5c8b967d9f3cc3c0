//! The monthly bill of one tier: every figure computed once, with its formula and inputs kept
//! for `--explain`, so a reader can check each with a calculator.

use runtime::store::dynamodb::metrics::{MeasuredUsage, OperationUsage};
use serde::Serialize;

use super::inputs::{Pricing, Workload, operation, tiered};
use crate::error::Error;

/// A month, as AWS's pricing calculator counts it.
pub const HOURS_PER_MONTH: f64 = 730.0;
const MINUTES_PER_MONTH: f64 = HOURS_PER_MONTH * 60.0;
const DAYS_PER_MONTH: f64 = HOURS_PER_MONTH / 24.0;
const SECONDS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;
const GB: f64 = 1024.0 * 1024.0 * 1024.0;
/// The default quotas the warnings name.
pub const API_GATEWAY_ACCOUNT_RPS: f64 = 10_000.0;
pub const LAMBDA_CONCURRENCY: f64 = 1_000.0;
pub const PARTITION_RCU: f64 = 3_000.0;
pub const PARTITION_WCU: f64 = 1_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    HttpApi,
    LambdaRequests,
    LambdaDuration,
    DynamodbReads,
    DynamodbWrites,
    DynamodbStorage,
    DynamodbPitr,
    Logs,
    DataTransfer,
    Ecr,
}

impl Component {
    pub const ALL: [Component; 10] = [
        Self::HttpApi,
        Self::LambdaRequests,
        Self::LambdaDuration,
        Self::DynamodbReads,
        Self::DynamodbWrites,
        Self::DynamodbStorage,
        Self::DynamodbPitr,
        Self::Logs,
        Self::DataTransfer,
        Self::Ecr,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::HttpApi => "API Gateway HTTP API",
            Self::LambdaRequests => "Lambda requests",
            Self::LambdaDuration => "Lambda duration",
            Self::DynamodbReads => "DynamoDB reads",
            Self::DynamodbWrites => "DynamoDB writes",
            Self::DynamodbStorage => "DynamoDB storage",
            Self::DynamodbPitr => "DynamoDB PITR",
            Self::Logs => "CloudWatch Logs",
            Self::DataTransfer => "Data transfer out",
            Self::Ecr => "ECR storage",
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
    pub free_tier: bool,
}

/// One figure of a tier: its value, unit and how it was computed.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub formula: String,
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

/// A number for people: thousands separated, at most four decimals, no trailing zeros.
pub fn num(x: f64) -> String {
    let decimals = if x.abs() >= 100.0 {
        2
    } else if x.abs() >= 1.0 {
        4
    } else {
        10
    };
    let text = format!("{x:.decimals$}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let grouped: Vec<String> =
        digits.as_bytes().rchunks(3).rev().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let frac = frac.trim_end_matches('0');
    let frac = if x.abs() < 1.0 {
        frac.get(..frac.find(|c| c != '0').map_or(0, |i| (i + 4).min(frac.len()))).unwrap_or(frac)
    } else {
        frac
    };
    if frac.is_empty() { format!("{sign}{}", grouped.join(",")) } else { format!("{sign}{}.{frac}", grouped.join(",")) }
}

struct Ledger(Vec<Line>);

impl Ledger {
    fn put(&mut self, name: &str, value: f64, unit: &'static str, formula: String) -> f64 {
        self.0.push(Line { name: name.to_owned(), value, unit, formula });
        value
    }
}

/// A group send of `size` members, interpolated linearly between the two measured sizes (exact
/// at each of them).
fn group_send(usage: &MeasuredUsage, size: f64) -> Result<OperationUsage, Error> {
    let (small, large) = (operation(usage, "send_group_10")?, operation(usage, "send_group_50")?);
    let t = (size - 10.0) / 40.0;
    let mix = |a: f64, b: f64| a + (b - a) * t;
    Ok(OperationUsage {
        dynamodb_requests: mix(small.dynamodb_requests as f64, large.dynamodb_requests as f64).round() as u64,
        read_units: mix(small.read_units, large.read_units),
        write_units: mix(small.write_units, large.write_units),
        response_bytes: mix(small.response_bytes as f64, large.response_bytes as f64).round() as u64,
        lambda_cpu_ms: mix(small.lambda_cpu_ms, large.lambda_cpu_ms),
    })
}

pub fn price_tier(
    users: u64,
    w: &Workload,
    usage: &MeasuredUsage,
    p: &Pricing,
    d: &Deployment,
) -> Result<TierCost, Error> {
    let mut l = Ledger(Vec::new());
    let u = users as f64;
    let text_delta = w.text_bytes - usage.text_bytes as f64;

    // Requests.
    let polls = l.put(
        "polls",
        u * w.polls_per_user_per_minute * MINUTES_PER_MONTH,
        "requests",
        format!(
            "{} users × {} polls/min × {} min (730 h)",
            num(u),
            num(w.polls_per_user_per_minute),
            num(MINUTES_PER_MONTH)
        ),
    );
    let sent = u * w.messages_per_user_per_day * DAYS_PER_MONTH;
    let directs = l.put(
        "direct messages",
        sent * (1.0 - w.group_share),
        "requests",
        format!(
            "{} users × {} messages/day × {} days × (1 − {} group share)",
            num(u),
            num(w.messages_per_user_per_day),
            num(DAYS_PER_MONTH),
            num(w.group_share)
        ),
    );
    let groups = l.put(
        "group messages",
        sent * w.group_share,
        "requests",
        format!(
            "{} users × {} messages/day × {} days × {} group share",
            num(u),
            num(w.messages_per_user_per_day),
            num(DAYS_PER_MONTH),
            num(w.group_share)
        ),
    );
    let entries = l.put(
        "feed entries delivered",
        directs * 2.0 + groups * w.group_size,
        "entries",
        format!("{} direct × 2 feeds + {} group × {} members", num(directs), num(groups), num(w.group_size)),
    );
    let polls_news = l.put(
        "polls that find messages",
        polls.min(entries),
        "requests",
        format!("min({} polls, {} entries)", num(polls), num(entries)),
    );
    let polls_empty =
        l.put("empty polls", polls - polls_news, "requests", format!("{} − {}", num(polls), num(polls_news)));
    let requests = l.put(
        "requests",
        polls + directs + groups,
        "requests",
        format!("{} + {} + {}", num(polls), num(directs), num(groups)),
    );
    let rps = l.put(
        "requests per second",
        requests / SECONDS_PER_MONTH,
        "req/s",
        format!("{} / {} s", num(requests), num(SECONDS_PER_MONTH)),
    );
    let peak = l.put(
        "peak requests per second",
        rps * w.peak_factor,
        "req/s",
        format!("{} × {} peak factor", num(rps), num(w.peak_factor)),
    );

    let (empty, one, direct) =
        (operation(usage, "poll_empty")?, operation(usage, "poll_one")?, operation(usage, "send_direct")?);
    let group = group_send(usage, w.group_size)?;
    let ops: [(&str, f64, &OperationUsage); 4] = [
        ("empty poll", polls_empty, empty),
        ("poll with messages", polls_news, one),
        ("direct message", directs, direct),
        ("group message", groups, &group),
    ];

    // API Gateway.
    let free = |amount: f64| if d.free_tier { amount } else { 0.0 };
    let billable_api = (requests - free(p.free_tier.api_gateway_requests)).max(0.0);
    let api = if d.function_url {
        l.put("API Gateway HTTP API", 0.0, "USD", "a function URL: no API Gateway charge".into())
    } else {
        l.put(
            "API Gateway HTTP API",
            tiered(billable_api / 1e6, &p.api_gateway_http.per_million_requests),
            "USD",
            format!(
                "{} million requests (each under {} KB: one metered request) at {}",
                num(billable_api / 1e6),
                num(p.api_gateway_http.metered_kb),
                tiers_text(&p.api_gateway_http.per_million_requests, "per million")
            ),
        )
    };

    // Lambda.
    let billable_invocations = (requests - free(p.free_tier.lambda_requests)).max(0.0);
    let lambda_requests = l.put(
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
    let mut gb_seconds = 0.0;
    let mut busy_ms = 0.0;
    for (name, count, op) in ops {
        let requests = op.dynamodb_requests as f64;
        let billed = (op.lambda_cpu_ms * cpu_scale + requests * w.dynamodb_round_trip_ms).ceil().max(1.0);
        l.put(
            &format!("billed duration, {name}"),
            billed,
            "ms",
            format!(
                "⌈{} ms CPU × {} + {} DynamoDB requests × {} ms⌉",
                num(op.lambda_cpu_ms),
                num(cpu_scale),
                num(requests),
                num(w.dynamodb_round_trip_ms)
            ),
        );
        gb_seconds += count * billed / 1000.0 * d.memory_mb / 1024.0;
        busy_ms += count * billed;
    }
    let gb_seconds = l.put(
        "GB-seconds",
        gb_seconds,
        "GB-s",
        format!("Σ requests × billed ms / 1000 × {} MB / 1024", num(d.memory_mb)),
    );
    let billable_gbs = (gb_seconds - free(p.free_tier.lambda_gb_seconds)).max(0.0);
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

    // DynamoDB.
    let poll_read_scale = if d.eventual_polls { 0.5 } else { 1.0 };
    let mut read_units = 0.0;
    let mut write_units = 0.0;
    for (name, count, op) in ops {
        let scale = if name.contains("poll") { poll_read_scale } else { 1.0 };
        read_units += count * op.read_units * scale;
        write_units += count * op.write_units;
    }
    let read_units = l.put("read request units", read_units, "RRU",
        format!("Σ requests × measured units ({} per empty poll, {} per poll with messages, {} per direct, {} per group message){}", num(empty.read_units), num(one.read_units), num(direct.read_units), num(group.read_units), if d.eventual_polls { "; polls eventually consistent: × 0.5" } else { "" }));
    let write_units = l.put(
        "write request units",
        write_units,
        "WRU",
        format!(
            "Σ requests × measured units ({} per direct, {} per group message of {} members)",
            num(direct.write_units),
            num(group.write_units),
            num(w.group_size)
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
        (stored_gb - free(p.free_tier.dynamodb_storage_gb)).max(0.0) * p.dynamodb.storage_per_gb_month,
        "USD",
        format!("{} GB × ${}", num(stored_gb), num(p.dynamodb.storage_per_gb_month)),
    );
    let pitr = if d.point_in_time_recovery {
        l.put(
            "DynamoDB PITR",
            stored_gb * p.dynamodb.point_in_time_recovery_per_gb_month,
            "USD",
            format!("{} GB × ${}", num(stored_gb), num(p.dynamodb.point_in_time_recovery_per_gb_month)),
        )
    } else {
        l.put("DynamoDB PITR", 0.0, "USD", "point-in-time recovery off".into())
    };

    // Logs.
    let log_bytes = if d.default_logging { w.default_log_bytes_per_request } else { w.log_bytes_per_request };
    let ingested_gb = l.put(
        "logs ingested",
        requests * log_bytes / GB,
        "GB",
        format!("{} requests × {} B / 2^30", num(requests), num(log_bytes)),
    );
    let kept_gb = ingested_gb / DAYS_PER_MONTH * d.log_retention_days;
    let logs = l.put(
        "CloudWatch Logs",
        (ingested_gb - free(p.free_tier.logs_ingestion_gb)).max(0.0) * p.cloudwatch_logs.ingestion_per_gb
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
    );

    // Data transfer out: each response's body (measured, text-adjusted) and headers.
    let mut out_bytes = 0.0;
    for (name, count, op) in ops {
        let text = if name == "empty poll" { 0.0 } else { text_delta };
        out_bytes += count * (op.response_bytes as f64 + text + w.response_header_bytes);
    }
    let out_gb = l.put("data out", out_bytes / GB, "GB",
        format!("Σ requests × (measured body: {} B empty poll, {} B poll with a message, {} B direct, {} B group; + {} B headers) / 2^30", empty.response_bytes, one.response_bytes, direct.response_bytes, group.response_bytes, num(w.response_header_bytes)));
    let transfer = l.put(
        "Data transfer out",
        tiered((out_gb - free(p.free_tier.data_transfer_gb)).max(0.0), &p.data_transfer_out.per_gb),
        "USD",
        format!("{} GB at {}", num(out_gb), tiers_text(&p.data_transfer_out.per_gb, "per GB")),
    );

    // ECR.
    let image_gb = w.image_bytes * w.images_kept / GB;
    let ecr = l.put(
        "ECR storage",
        (image_gb - free(p.free_tier.ecr_storage_gb)).max(0.0) * p.ecr.storage_per_gb_month,
        "USD",
        format!(
            "{} images × {} B / 2^30 = {} GB × ${}",
            num(w.images_kept),
            num(w.image_bytes),
            num(image_gb),
            num(p.ecr.storage_per_gb_month)
        ),
    );

    let components = vec![
        (Component::HttpApi, api),
        (Component::LambdaRequests, lambda_requests),
        (Component::LambdaDuration, duration),
        (Component::DynamodbReads, reads),
        (Component::DynamodbWrites, writes),
        (Component::DynamodbStorage, storage),
        (Component::DynamodbPitr, pitr),
        (Component::Logs, logs),
        (Component::DataTransfer, transfer),
        (Component::Ecr, ecr),
    ];
    let total = l.put("total", components.iter().map(|(_, v)| v).sum(), "USD", "the sum of the components".into());
    let per_user = l.put("per user", total / u, "USD", format!("{} / {} users", num(total), num(u)));

    // Quotas.
    let mut warnings = Vec::new();
    if !d.function_url && peak > API_GATEWAY_ACCOUNT_RPS {
        warnings.push(format!(
            "peak {} req/s exceeds API Gateway's default account throttle of {} req/s per region",
            num(peak.round()),
            num(API_GATEWAY_ACCOUNT_RPS)
        ));
    }
    let concurrency = l.put(
        "peak concurrency",
        busy_ms / 1000.0 / SECONDS_PER_MONTH * w.peak_factor,
        "executions",
        format!("{} busy ms / 1000 / {} s × {} peak factor", num(busy_ms), num(SECONDS_PER_MONTH), num(w.peak_factor)),
    );
    if concurrency > LAMBDA_CONCURRENCY {
        warnings.push(format!(
            "peak concurrency {} exceeds Lambda's default {} concurrent executions per region",
            num(concurrency.round()),
            num(LAMBDA_CONCURRENCY)
        ));
    }
    // The hottest partitions: a group item is read by every message to the group, and a feed head
    // is written by every message its user receives.
    let group_reads = l.put(
        "hot group item reads",
        w.messages_per_user_per_day * w.group_share * w.group_size / 86_400.0
            * w.peak_factor
            * (group.read_units - w.group_size).max(1.0),
        "RCU",
        format!(
            "{} members × {} group messages/day each / 86,400 s × {} peak × the group item's read units",
            num(w.group_size),
            num(w.messages_per_user_per_day * w.group_share),
            num(w.peak_factor)
        ),
    );
    if group_reads > PARTITION_RCU {
        warnings.push(format!(
            "a group's item takes {} RCU at peak: over a DynamoDB partition's {} RCU",
            num(group_reads),
            num(PARTITION_RCU)
        ));
    }
    let feed_writes = l.put(
        "hot feed writes",
        entries / u / (DAYS_PER_MONTH * 86_400.0) * w.peak_factor * 4.0,
        "WCU",
        format!(
            "{} entries per user per month / {} s × {} peak × 4 WCU (head update and entry put, transactional)",
            num(entries / u),
            num(DAYS_PER_MONTH * 86_400.0),
            num(w.peak_factor)
        ),
    );
    if feed_writes > PARTITION_WCU {
        warnings.push(format!(
            "a feed takes {} WCU at peak: over a DynamoDB partition's {} WCU",
            num(feed_writes),
            num(PARTITION_WCU)
        ));
    }
    Ok(TierCost {
        users,
        requests_per_second: rps,
        peak_requests_per_second: peak,
        components,
        total,
        per_user,
        warnings,
        explain: l.0,
    })
}

fn tiers_text(tiers: &[super::inputs::Tier], unit: &str) -> String {
    let bands: Vec<String> = tiers
        .iter()
        .map(|t| match t.up_to {
            Some(top) => format!("${} {unit} up to {}", num(t.price), num(top)),
            None => format!("${} {unit} beyond", num(t.price)),
        })
        .collect();
    bands.join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::inputs::{Tier, parse_pricing_for_tests};
    use super::*;

    fn op(requests: u64, read: f64, write: f64, bytes: u64, cpu: f64) -> OperationUsage {
        OperationUsage {
            dynamodb_requests: requests,
            read_units: read,
            write_units: write,
            response_bytes: bytes,
            lambda_cpu_ms: cpu,
        }
    }

    /// Round numbers, so each figure below can be checked by hand.
    fn usage() -> MeasuredUsage {
        MeasuredUsage {
            text_bytes: 200,
            feed_entry_bytes: 451,
            operations: BTreeMap::from([
                ("poll_empty".to_owned(), op(1, 1.0, 0.0, 69, 0.5)),
                ("poll_one".to_owned(), op(1, 1.0, 0.0, 461, 0.5)),
                ("send_direct".to_owned(), op(2, 2.0, 14.0, 392, 1.0)),
                ("send_group_10".to_owned(), op(3, 11.0, 44.0, 400, 2.0)),
                ("send_group_50".to_owned(), op(5, 52.0, 206.0, 400, 5.0)),
            ]),
            ..MeasuredUsage::default()
        }
    }

    fn workload() -> Workload {
        toml::from_str(include_str!("../../../config/workload.toml")).unwrap()
    }

    fn deployment() -> Deployment {
        Deployment {
            memory_mb: 128.0,
            point_in_time_recovery: true,
            log_retention_days: 14.0,
            arch: Arch::X86_64,
            function_url: false,
            eventual_polls: false,
            default_logging: false,
            free_tier: false,
        }
    }

    #[track_caller]
    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() <= expected.abs() * 1e-9 + 1e-12, "{actual} ≠ {expected}");
    }

    #[test]
    fn one_tier_by_hand() {
        let pricing = parse_pricing_for_tests();
        let tier = price_tier(1000, &workload(), &usage(), &pricing, &deployment()).unwrap();
        let days = 730.0 / 24.0;
        // Requests: 1 poll a minute for 730 h; 10 messages a day, 30 % to groups of 10.
        let polls = 1000.0 * 43_800.0;
        let (directs, groups) = (1000.0 * 10.0 * days * 0.7, 1000.0 * 10.0 * days * 0.3);
        let entries = directs * 2.0 + groups * 10.0; // 44,000 a day: 1000 × (7 × 2 + 3 × 10)
        let (news, empty) = (entries, polls - entries);
        let requests = polls + directs + groups;
        close(tier.requests_per_second, requests / (730.0 * 3600.0));

        // HTTP API: under 300 million requests, $1.00 per million.
        close(tier.cost(Component::HttpApi), requests / 1e6 * 1.00);
        // Lambda requests: $0.20 per million.
        close(tier.cost(Component::LambdaRequests), requests / 1e6 * 0.20);
        // Duration at 128 MB: CPU runs 1769 / 128 = 13.8203125 times slower than on a full core,
        // plus 4 ms per DynamoDB request, rounded up to the millisecond:
        // polls ⌈0.5 × 13.82 + 4⌉ = 11 ms, direct ⌈1 × 13.82 + 8⌉ = 22 ms, group ⌈2 × 13.82 + 12⌉ = 40 ms.
        let milliseconds = polls * 11.0 + directs * 22.0 + groups * 40.0;
        let gb_seconds = milliseconds / 1000.0 * 128.0 / 1024.0;
        close(tier.cost(Component::LambdaDuration), gb_seconds * 0.0000166667);
        // DynamoDB: 1 read unit per poll, 2 per direct, 11 per group message; 14 and 44 write units.
        close(tier.cost(Component::DynamodbReads), (polls * 1.0 + directs * 2.0 + groups * 11.0) / 1e6 * 0.125);
        close(tier.cost(Component::DynamodbWrites), (directs * 14.0 + groups * 44.0) / 1e6 * 0.625);
        // Storage: 44,000 entries a day kept 30 days, 451 B each plus 100 B of per-item overhead.
        let stored_gb = 44_000.0 * 30.0 * 551.0 / 1024f64.powi(3);
        close(tier.cost(Component::DynamodbStorage), stored_gb * 0.25);
        close(tier.cost(Component::DynamodbPitr), stored_gb * 0.20);
        // Logs: the deployed configuration logs nothing per request.
        close(tier.cost(Component::Logs), 0.0);
        // Data out: the bodies plus 200 B of headers, at $0.09 per GB (under 10 TB).
        let bytes =
            empty * (69.0 + 200.0) + news * (461.0 + 200.0) + directs * (392.0 + 200.0) + groups * (400.0 + 200.0);
        close(tier.cost(Component::DataTransfer), bytes / 1024f64.powi(3) * 0.09);
        // ECR: 5 images of 9,027,555 B at $0.10 per GB-month.
        close(tier.cost(Component::Ecr), 5.0 * 9_027_555.0 / 1024f64.powi(3) * 0.10);

        let total: f64 = Component::ALL.iter().map(|c| tier.cost(*c)).sum();
        close(tier.total, total);
        close(tier.per_user, total / 1000.0);
        assert!((65.0..66.0).contains(&tier.total), "about $65.33 a month for 1,000 users: {}", tier.total);
        assert!(tier.warnings.is_empty(), "{:?}", tier.warnings);
    }

    #[test]
    fn switches_change_only_their_component() {
        let (pricing, w, usage) = (parse_pricing_for_tests(), workload(), usage());
        let base = price_tier(1000, &w, &usage, &pricing, &deployment()).unwrap();
        let url = price_tier(1000, &w, &usage, &pricing, &Deployment { function_url: true, ..deployment() }).unwrap();
        close(url.total, base.total - base.cost(Component::HttpApi));
        let arm = price_tier(1000, &w, &usage, &pricing, &Deployment { arch: Arch::Arm64, ..deployment() }).unwrap();
        close(arm.cost(Component::LambdaDuration), base.cost(Component::LambdaDuration) / 0.0000166667 * 0.0000133334);
        let eventual =
            price_tier(1000, &w, &usage, &pricing, &Deployment { eventual_polls: true, ..deployment() }).unwrap();
        let poll_reads = 43_800_000.0 / 1e6 * 0.125;
        close(eventual.cost(Component::DynamodbReads), base.cost(Component::DynamodbReads) - poll_reads / 2.0);
        let logging =
            price_tier(1000, &w, &usage, &pricing, &Deployment { default_logging: true, ..deployment() }).unwrap();
        let requests = base.requests_per_second * 730.0 * 3600.0;
        let ingested = requests * 330.0 / 1024f64.powi(3);
        close(logging.cost(Component::Logs), ingested * 0.50 + ingested / (730.0 / 24.0) * 14.0 * 0.03);
    }

    #[test]
    fn quotas_are_warned_about_with_their_names() {
        let (pricing, w, usage) = (parse_pricing_for_tests(), workload(), usage());
        // 1M users poll 16,667 times a second on average, 50,000 at a peak of 3×.
        let million = price_tier(1_000_000, &w, &usage, &pricing, &deployment()).unwrap();
        assert!(
            million.warnings.iter().any(|w| w.contains("API Gateway's default account throttle of 10,000")),
            "{:?}",
            million.warnings
        );
        let ten_million = price_tier(10_000_000, &w, &usage, &pricing, &deployment()).unwrap();
        assert!(
            ten_million.warnings.iter().any(|w| w.contains("Lambda's default 1,000 concurrent executions")),
            "{:?}",
            ten_million.warnings
        );
    }

    #[test]
    fn tiered_prices_fill_each_band_in_turn() {
        let tiers = [Tier { up_to: Some(300.0), price: 1.0 }, Tier { up_to: None, price: 0.9 }];
        close(super::super::inputs::tiered(100.0, &tiers), 100.0);
        close(super::super::inputs::tiered(500.0, &tiers), 300.0 + 200.0 * 0.9);
        close(super::super::inputs::tiered(0.0, &tiers), 0.0);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(43_800_000.0), "43,800,000");
        assert_eq!(num(1234.5678), "1,234.57");
        assert_eq!(num(13.8203125), "13.8203");
        assert_eq!(num(0.0000166667), "0.00001666");
        assert_eq!(num(0.0), "0");
    }
}
