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
pub const WEBSOCKET_NEW_CONNECTIONS: f64 = 500.0;
pub const PARTITION_RCU: f64 = 3_000.0;
pub const PARTITION_WCU: f64 = 1_000.0;

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
}

impl Component {
    pub const ALL: [Component; 11] = [
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
    /// Clients hold a WebSocket connection while online and get messages pushed, instead of
    /// polling.
    pub push: bool,
}

/// One kind of invocation of the function, for the duration and DynamoDB sums.
struct Invocations<'a> {
    name: &'static str,
    count: f64,
    usage: &'a OperationUsage,
    /// Round trips beyond DynamoDB's: posts to WebSocket connections.
    post_round_trips: f64,
    /// A poll's reads (which eventually consistent polls would halve).
    poll: bool,
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

/// A group send of `size` members (`suffix` "" or "_push"), interpolated linearly between the two
/// measured sizes (exact at each of them).
fn group_send(usage: &MeasuredUsage, size: f64, suffix: &str) -> Result<OperationUsage, Error> {
    let small = operation(usage, &format!("send_group_10{suffix}"))?;
    let large = operation(usage, &format!("send_group_50{suffix}"))?;
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
    let polls = if d.push {
        l.put("polls", 0.0, "requests", "push: clients do not poll; each new connection resumes from its cursor".into())
    } else {
        l.put(
            "polls",
            u * w.polls_per_user_per_minute * MINUTES_PER_MONTH,
            "requests",
            format!(
                "{} users × {} polls/min × {} min (730 h)",
                num(u),
                num(w.polls_per_user_per_minute),
                num(MINUTES_PER_MONTH)
            ),
        )
    };
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

    let (empty, one) = (operation(usage, "poll_empty")?, operation(usage, "poll_one")?);
    let suffix = if d.push { "_push" } else { "" };
    let direct = operation(usage, &format!("send_direct{suffix}"))?;
    let group = group_send(usage, w.group_size, suffix)?;
    // Push: connections, their resumes and pings, and the posts of every send.
    let online = if d.push { w.online_share } else { 0.0 };
    let connection_minutes = l.put(
        "connection minutes",
        u * online * MINUTES_PER_MONTH,
        "minutes",
        format!("{} users × {} online × {} min", num(u), num(online), num(MINUTES_PER_MONTH)),
    );
    let connections = l.put(
        "connections",
        if d.push { u * w.connections_per_user_per_day.max(online * 12.0) * DAYS_PER_MONTH } else { 0.0 },
        "connections",
        format!(
            "{} users × max({} per day, {} online × 12: one per 2 h online) × {} days",
            num(u),
            num(w.connections_per_user_per_day),
            num(online),
            num(DAYS_PER_MONTH)
        ),
    );
    let pings = l.put(
        "keep-alive pings",
        connection_minutes / w.keepalive_minutes,
        "messages",
        format!(
            "{} connection minutes / {} min (an upper bound: any message resets the idle timer)",
            num(connection_minutes),
            num(w.keepalive_minutes)
        ),
    );
    let posts = l.put(
        "frames posted",
        if d.push { entries + connections } else { 0.0 },
        "messages",
        format!(
            "{} feed entries (pushed live, or sent by the resume of the next connection) + {} caught_up",
            num(entries),
            num(connections)
        ),
    );
    let ws_messages = l.put(
        "WebSocket messages",
        posts + connections + pings,
        "messages",
        format!(
            "{} frames + {} resumes + {} pings received (each under {} KB: one metered message)",
            num(posts),
            num(connections),
            num(pings),
            num(p.api_gateway_websocket.metered_kb)
        ),
    );
    let (connect, resume, disconnect, ping) = if d.push {
        (
            operation(usage, "ws_connect")?,
            operation(usage, "ws_resume")?,
            operation(usage, "ws_disconnect")?,
            operation(usage, "ws_ping")?,
        )
    } else {
        (empty, empty, empty, empty)
    };
    // A send posts to its recipients' connections 32 at a time; a resume posts one frame after another.
    let pushed_per_resume = if connections > 0.0 { entries * (1.0 - online) / connections } else { 0.0 };
    let invocations: Vec<Invocations<'_>> = if d.push {
        vec![
            Invocations {
                name: "direct message",
                count: directs,
                usage: direct,
                post_round_trips: (2.0 * online / 32.0).ceil(),
                poll: false,
            },
            Invocations {
                name: "group message",
                count: groups,
                usage: &group,
                post_round_trips: (w.group_size * online / 32.0).ceil(),
                poll: false,
            },
            Invocations { name: "$connect", count: connections, usage: connect, post_round_trips: 0.0, poll: false },
            Invocations {
                name: "resume",
                count: connections,
                usage: resume,
                post_round_trips: pushed_per_resume + 1.0,
                poll: false,
            },
            Invocations {
                name: "$disconnect",
                count: connections,
                usage: disconnect,
                post_round_trips: 0.0,
                poll: false,
            },
            Invocations { name: "ping", count: pings, usage: ping, post_round_trips: 0.0, poll: false },
        ]
    } else {
        vec![
            Invocations { name: "empty poll", count: polls_empty, usage: empty, post_round_trips: 0.0, poll: true },
            Invocations {
                name: "poll with messages",
                count: polls_news,
                usage: one,
                post_round_trips: 0.0,
                poll: true,
            },
            Invocations { name: "direct message", count: directs, usage: direct, post_round_trips: 0.0, poll: false },
            Invocations { name: "group message", count: groups, usage: &group, post_round_trips: 0.0, poll: false },
        ]
    };
    let invocation_count = l.put(
        "function invocations",
        invocations.iter().map(|i| i.count).sum(),
        "invocations",
        if d.push {
            format!(
                "{} requests + 3 × {} connections ($connect, resume, $disconnect) + {} pings",
                num(requests),
                num(connections),
                num(pings)
            )
        } else {
            format!("{} requests", num(requests))
        },
    );

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

    let websocket = {
        let ws = &p.api_gateway_websocket;
        let minutes = (connection_minutes - free(p.free_tier.websocket_connection_minutes)).max(0.0);
        let messages = (ws_messages - free(p.free_tier.websocket_messages)).max(0.0);
        l.put(
            "API Gateway WebSocket API",
            minutes / 1e6 * ws.per_million_connection_minutes + tiered(messages / 1e6, &ws.per_million_messages),
            "USD",
            format!(
                "{} million connection minutes × ${} + {} million messages at {}",
                num(minutes / 1e6),
                num(ws.per_million_connection_minutes),
                num(messages / 1e6),
                tiers_text(&ws.per_million_messages, "per million")
            ),
        )
    };

    // Lambda.
    let billable_invocations = (invocation_count - free(p.free_tier.lambda_requests)).max(0.0);
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
    for i in &invocations {
        let round_trips = i.usage.dynamodb_requests as f64 + i.post_round_trips;
        let billed = (i.usage.lambda_cpu_ms * cpu_scale + round_trips * w.dynamodb_round_trip_ms).ceil().max(1.0);
        l.put(
            &format!("billed duration, {}", i.name),
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
    for i in &invocations {
        let scale = if i.poll { poll_read_scale } else { 1.0 };
        read_units += i.count * i.usage.read_units * scale;
        write_units += i.count * i.usage.write_units;
    }
    let measured_reads: Vec<String> =
        invocations.iter().map(|i| format!("{} per {}", num(i.usage.read_units), i.name)).collect();
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
    let write_units = l.put(
        "write request units",
        write_units,
        "WRU",
        format!(
            "Σ invocations × measured units ({} per direct, {} per group message of {} members{})",
            num(direct.write_units),
            num(group.write_units),
            num(w.group_size),
            if d.push {
                format!(", {} per $connect, {} per $disconnect", num(connect.write_units), num(disconnect.write_units))
            } else {
                String::new()
            }
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
        invocation_count * log_bytes / GB,
        "GB",
        format!("{} invocations × {} B / 2^30", num(invocation_count), num(log_bytes)),
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
    for i in invocations.iter().filter(|i| i.usage.response_bytes > 0 && i.name != "resume") {
        let text = if i.name == "empty poll" { 0.0 } else { text_delta };
        out_bytes += i.count * (i.usage.response_bytes as f64 + text + w.response_header_bytes);
    }
    // Every frame of an entry, pushed or resumed: the measured resume of one entry (its frame and
    // `caught_up`) per entry, an upper bound.
    out_bytes += if d.push { entries * (resume.response_bytes as f64 + text_delta) } else { 0.0 };
    let out_gb = l.put("data out", out_bytes / GB, "GB",
        format!("Σ responses × (measured body: {} B empty poll, {} B poll with a message, {} B direct, {} B group; + {} B headers){} / 2^30", empty.response_bytes, one.response_bytes, direct.response_bytes, group.response_bytes, num(w.response_header_bytes),
            if d.push { format!(" + {} entries × {} B frames", num(entries), resume.response_bytes) } else { String::new() }));
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
        (Component::WebsocketApi, websocket),
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
    let new_connections = connections / SECONDS_PER_MONTH * w.peak_factor;
    if new_connections > WEBSOCKET_NEW_CONNECTIONS {
        warnings.push(format!(
            "peak {} new WebSocket connections/s exceeds API Gateway's default {} per second per account",
            num(new_connections.round()),
            num(WEBSOCKET_NEW_CONNECTIONS)
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
                ("send_direct_push".to_owned(), op(3, 4.0, 14.0, 392, 1.5)),
                ("send_group_10_push".to_owned(), op(4, 21.0, 44.0, 400, 3.0)),
                ("send_group_50_push".to_owned(), op(6, 102.0, 206.0, 400, 7.0)),
                ("ws_connect".to_owned(), op(2, 0.0, 2.0, 0, 0.5)),
                ("ws_resume".to_owned(), op(2, 2.0, 0.0, 1000, 0.5)),
                ("ws_disconnect".to_owned(), op(3, 1.0, 2.0, 0, 0.5)),
                ("ws_ping".to_owned(), op(0, 0.0, 0.0, 0, 0.25)),
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
            push: false,
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
        // ECR: 5 images of 9,444,834 B at $0.10 per GB-month.
        close(tier.cost(Component::Ecr), 5.0 * 9_444_834.0 / 1024f64.powi(3) * 0.10);

        let total: f64 = Component::ALL.iter().map(|c| tier.cost(*c)).sum();
        close(tier.total, total);
        close(tier.per_user, total / 1000.0);
        assert!((65.0..66.0).contains(&tier.total), "about $65.33 a month for 1,000 users: {}", tier.total);
        assert!(tier.warnings.is_empty(), "{:?}", tier.warnings);
    }

    #[test]
    fn one_push_tier_by_hand() {
        let pricing = parse_pricing_for_tests();
        let push = Deployment { push: true, ..deployment() };
        let tier = price_tier(1000, &workload(), &usage(), &pricing, &push).unwrap();
        let days = 730.0 / 24.0;
        let (directs, groups) = (1000.0 * 10.0 * days * 0.7, 1000.0 * 10.0 * days * 0.3);
        let entries = directs * 2.0 + groups * 10.0;
        // 10 % of users online at any moment, 6 connections a user a day (over the 1.2 that the
        // 2-hour limit forces at 10 %), a ping every 9 minutes of connection.
        let minutes = 1000.0 * 0.1 * 43_800.0;
        let connections = 1000.0 * 6.0 * days;
        let pings = minutes / 9.0;
        // Every entry is one frame (pushed, or sent by the next resume), every resume ends with
        // `caught_up`; received: a resume per connection, and the pings.
        let messages = entries + connections + connections + pings;
        close(tier.cost(Component::WebsocketApi), minutes / 1e6 * 0.25 + messages / 1e6 * 1.00);
        // No polls: the HTTP API carries only the sends.
        close(tier.cost(Component::HttpApi), (directs + groups) / 1e6 * 1.00);
        let invocations = directs + groups + 3.0 * connections + pings;
        close(tier.cost(Component::LambdaRequests), invocations / 1e6 * 0.20);
        // At 13.8203125× CPU and 4 ms a round trip: direct ⌈1.5 × 13.82 + (3 + 1 round of posts) × 4⌉
        // = 37, group ⌈3 × 13.82 + (4 + 1) × 4⌉ = 62, $connect ⌈0.5 × 13.82 + 2 × 4⌉ = 15, resume
        // ⌈0.5 × 13.82 + (2 + 44 × 0.9 / 6 entries + 1 caught_up) × 4⌉ = ⌈45.31⌉ = 46, $disconnect
        // ⌈0.5 × 13.82 + 3 × 4⌉ = 19, ping ⌈0.25 × 13.82⌉ = 4.
        let milliseconds = directs * 37.0 + groups * 62.0 + connections * (15.0 + 46.0 + 19.0) + pings * 4.0;
        close(tier.cost(Component::LambdaDuration), milliseconds / 1000.0 * 0.125 * 0.0000166667);
        let reads = directs * 4.0 + groups * 21.0 + connections * (0.0 + 2.0 + 1.0);
        close(tier.cost(Component::DynamodbReads), reads / 1e6 * 0.125);
        let writes = directs * 14.0 + groups * 44.0 + connections * (2.0 + 2.0);
        close(tier.cost(Component::DynamodbWrites), writes / 1e6 * 0.625);
        // Data out: the sends' answers, and a frame per entry.
        let bytes = directs * (392.0 + 200.0) + groups * (400.0 + 200.0) + entries * 1000.0;
        close(tier.cost(Component::DataTransfer), bytes / 1024f64.powi(3) * 0.09);
        let polling = price_tier(1000, &workload(), &usage(), &pricing, &deployment()).unwrap();
        assert!(tier.total < polling.total, "push at 10 % online: {} vs polling {}", tier.total, polling.total);
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
