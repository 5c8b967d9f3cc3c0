//! Each figure of a tier checked by hand, with round usage numbers.

use std::collections::BTreeMap;

use contract::usage::{Operation, OperationUsage};

use super::*;
use crate::inputs::{Tier, parse_pricing_for_tests, tiered};

fn op(requests: u64, read: f64, write: f64, bytes: u64, cpu: f64) -> OperationUsage {
    OperationUsage {
        dynamodb_requests: requests,
        read_units: read,
        write_units: write,
        response_bytes: bytes,
        lambda_cpu_ms: cpu,
    }
}

fn key(name: &str) -> Operation {
    Operation::parse(name).unwrap()
}

/// Round numbers, so each figure below can be checked by hand.
fn usage() -> MeasuredUsage {
    MeasuredUsage {
        text_bytes: 200,
        feed_entry_bytes: 451,
        operations: BTreeMap::from([
            (key("poll_empty"), op(1, 1.0, 0.0, 69, 0.5)),
            (key("poll_one"), op(1, 1.0, 0.0, 461, 0.5)),
            (key("send_direct"), op(2, 2.0, 14.0, 392, 1.0)),
            (key("send_group_10"), op(3, 11.0, 44.0, 400, 2.0)),
            (key("send_group_50"), op(5, 52.0, 206.0, 400, 5.0)),
            (key("send_direct_push"), op(3, 4.0, 14.0, 392, 1.5)),
            (key("send_group_10_push"), op(4, 21.0, 44.0, 400, 3.0)),
            (key("send_group_50_push"), op(6, 102.0, 206.0, 400, 7.0)),
            (key("ws_connect"), op(2, 0.0, 2.0, 0, 0.5)),
            (key("ws_resume"), op(2, 2.0, 0.0, 1000, 0.5)),
            (key("ws_disconnect"), op(3, 1.0, 2.0, 0, 0.5)),
            (key("ws_ping"), op(1, 1.0, 0.0, 0, 0.25)),
            (key("ws_reauth"), op(3, 1.0, 2.0, 40, 0.25)),
            (key("session_exchange"), op(3, 3.0, 2.0, 300, 1.0)),
            (key("session_refresh"), op(3, 2.0, 2.0, 300, 0.5)),
            (key("session_logout"), op(1, 0.0, 1.0, 0, 0.25)),
            (key("inbox"), op(2, 3.0, 0.0, 1500, 1.0)),
            (key("history_page"), op(1, 3.0, 0.0, 9000, 1.0)),
            (key("mark_read"), op(1, 0.0, 4.0, 0, 0.5)),
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
        access_logs: true,
        arch: Arch::X86_64,
        function_url: false,
        eventual_polls: false,
        default_logging: false,
        free_tier: false,
        push: false,
        table_max_read_units: 0.0,
        table_max_write_units: 0.0,
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
    // Sessions: 4 sign-ins and a logout a user a month; a client polling all month refreshes
    // once per 3,600 s access token: 730 times.
    let (sign_ins, logouts, refreshes) = (4_000.0, 1_000.0, 730_000.0);
    let sessions = sign_ins + logouts + refreshes;
    let requests = polls + directs + groups + sessions;
    close(tier.requests_per_second, requests / (730.0 * 3600.0));

    // HTTP API: under 300 million requests, $1.00 per million.
    close(tier.cost(Component::HttpApi), requests / 1e6 * 1.00);
    // Lambda requests: $0.20 per million.
    close(tier.cost(Component::LambdaRequests), requests / 1e6 * 0.20);
    // Duration at 128 MB: CPU runs 1769 / 128 = 13.8203125 times slower than on a full core,
    // plus 4 ms per DynamoDB request, rounded up to the millisecond:
    // polls ⌈0.5 × 13.82 + 4⌉ = 11 ms, direct ⌈1 × 13.82 + 8⌉ = 22 ms, group ⌈2 × 13.82 + 12⌉ = 40 ms,
    // sign-in ⌈1 × 13.82 + 12⌉ = 26 ms, refresh ⌈0.5 × 13.82 + 12⌉ = 19 ms, logout ⌈0.25 × 13.82 + 4⌉ = 8 ms.
    let session_ms = sign_ins * 26.0 + refreshes * 19.0 + logouts * 8.0;
    let milliseconds = polls * 11.0 + directs * 22.0 + groups * 40.0 + session_ms;
    let gb_seconds = milliseconds / 1000.0 * 128.0 / 1024.0;
    close(tier.cost(Component::LambdaDuration), gb_seconds * 0.0000166667);
    // DynamoDB: 1 read unit per poll, 2 per direct, 11 per group message; 14 and 44 write units;
    // sessions as measured.
    let (session_reads, session_writes) =
        (sign_ins * 3.0 + refreshes * 2.0, sign_ins * 2.0 + refreshes * 2.0 + logouts);
    let reads = polls * 1.0 + directs * 2.0 + groups * 11.0 + session_reads;
    close(tier.cost(Component::DynamodbReads), reads / 1e6 * 0.125);
    close(tier.cost(Component::DynamodbWrites), (directs * 14.0 + groups * 44.0 + session_writes) / 1e6 * 0.625);
    // Storage: 44,000 entries a day kept 30 days, 451 B each plus 100 B of per-item overhead.
    let stored_gb = 44_000.0 * 30.0 * 551.0 / 1024f64.powi(3);
    close(tier.cost(Component::DynamodbStorage), stored_gb * 0.25);
    close(tier.cost(Component::DynamodbPitr), stored_gb * 0.20);
    // Logs: the function logs nothing per request; the stage's access log writes a line of 141 B
    // (with typical values) per request, metered with 26 B more, at $0.50 per GB ingested and
    // $0.03 per GB-month kept 14 days.
    let access_gb = requests * 167.0 / 1024f64.powi(3);
    close(tier.cost(Component::Logs), access_gb * 0.50 + access_gb / days * 14.0 * 0.03);
    // Data out: the bodies plus 200 B of headers, at $0.09 per GB (under 10 TB).
    let bytes = empty * (69.0 + 200.0)
        + news * (461.0 + 200.0)
        + directs * (392.0 + 200.0)
        + groups * (400.0 + 200.0)
        + (sign_ins + refreshes) * (300.0 + 200.0);
    close(tier.cost(Component::DataTransfer), bytes / 1024f64.powi(3) * 0.09);
    // ECR: 5 images of 9,444,834 B at $0.10 per GB-month.
    close(tier.cost(Component::Ecr), 5.0 * 9_444_834.0 / 1024f64.powi(3) * 0.10);
    // Secrets Manager: the secret, and a read by each environment's cold start: under one
    // environment busy on average, started afresh every 2 hours.
    close(tier.cost(Component::SecretsManager), 0.40 + 365.0 / 10_000.0 * 0.05);

    let total: f64 = Component::ALL.iter().map(|c| tier.cost(*c)).sum();
    close(tier.total, total);
    close(tier.per_user, total / 1000.0);
    assert!((70.0..72.0).contains(&tier.total), "about $71 a month for 1,000 users: {}", tier.total);
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
    // Clients online 10 % of the time refresh once per hour online (73,000 times), and reauth
    // their connection after each refresh.
    let (sign_ins, logouts, refreshes) = (4_000.0, 1_000.0, 73_000.0);
    let reauths = refreshes;
    // An online user's entry is one frame, pushed live (10 %); an offline user's are sent by the
    // resume of their next connection, packed to 32 KB frames: 44 × 0.9 / 6 = 6.6 entries of at
    // most 1,000 B (the measured resume of one entry), one frame. Every resume ends with
    // `caught_up`, every reauth is answered `reauthed`; received: a resume per connection, the
    // pings and the reauths.
    let posted = entries * 0.1 + connections * (1.0 + 1.0) + reauths;
    let messages = posted + connections + pings + reauths;
    close(tier.cost(Component::WebsocketApi), minutes / 1e6 * 0.25 + messages / 1e6 * 1.00);
    // No polls: the HTTP API carries the sends and the sessions.
    close(tier.cost(Component::HttpApi), (directs + groups + sign_ins + logouts + refreshes) / 1e6 * 1.00);
    let invocations = directs + groups + 3.0 * connections + pings + reauths + sign_ins + logouts + refreshes;
    close(tier.cost(Component::LambdaRequests), invocations / 1e6 * 0.20);
    // At 13.8203125× CPU and 4 ms a round trip: direct ⌈1.5 × 13.82 + (3 + 1 round of posts) × 4⌉
    // = 37, group ⌈3 × 13.82 + (4 + 1) × 4⌉ = 62, $connect ⌈0.5 × 13.82 + 2 × 4⌉ = 15, resume
    // ⌈0.5 × 13.82 + (2 + 1 frame + 1 caught_up) × 4⌉ = ⌈22.91⌉ = 23, $disconnect
    // ⌈0.5 × 13.82 + 3 × 4⌉ = 19, ping ⌈0.25 × 13.82 + 4⌉ = 8, reauth ⌈0.25 × 13.82 + (3 + 1) × 4⌉ = 20;
    // the sessions as when polling (26, 19 and 8).
    let milliseconds = directs * 37.0
        + groups * 62.0
        + connections * (15.0 + 23.0 + 19.0)
        + pings * 8.0
        + reauths * 20.0
        + sign_ins * 26.0
        + refreshes * 19.0
        + logouts * 8.0;
    close(tier.cost(Component::LambdaDuration), milliseconds / 1000.0 * 0.125 * 0.0000166667);
    let reads = directs * 4.0
        + groups * 21.0
        + connections * (0.0 + 2.0 + 1.0)
        + pings
        + reauths
        + sign_ins * 3.0
        + refreshes * 2.0;
    close(tier.cost(Component::DynamodbReads), reads / 1e6 * 0.125);
    let writes = directs * 14.0
        + groups * 44.0
        + connections * (2.0 + 2.0)
        + reauths * 2.0
        + sign_ins * 2.0
        + refreshes * 2.0
        + logouts;
    close(tier.cost(Component::DynamodbWrites), writes / 1e6 * 0.625);
    // Data out: the sends' and sessions' answers, a frame per entry, and the reauths' answers.
    let bytes = directs * (392.0 + 200.0)
        + groups * (400.0 + 200.0)
        + (sign_ins + refreshes) * (300.0 + 200.0)
        + reauths * (40.0 + 200.0)
        + entries * 1000.0;
    close(tier.cost(Component::DataTransfer), bytes / 1024f64.powi(3) * 0.09);
    let polling = price_tier(1000, &workload(), &usage(), &pricing, &deployment()).unwrap();
    assert!(tier.total < polling.total, "push at 10 % online: {} vs polling {}", tier.total, polling.total);
}

#[test]
fn switches_change_only_their_component() {
    let (pricing, w, usage) = (parse_pricing_for_tests(), workload(), usage());
    let base = price_tier(1000, &w, &usage, &pricing, &deployment()).unwrap();
    let url = price_tier(1000, &w, &usage, &pricing, &Deployment { function_url: true, ..deployment() }).unwrap();
    // No stage: no API Gateway charge, and no access log.
    close(url.total, base.total - base.cost(Component::HttpApi) - base.cost(Component::Logs));
    let unlogged = price_tier(1000, &w, &usage, &pricing, &Deployment { access_logs: false, ..deployment() }).unwrap();
    close(unlogged.total, base.total - base.cost(Component::Logs));
    close(unlogged.cost(Component::Logs), 0.0);
    let arm = price_tier(1000, &w, &usage, &pricing, &Deployment { arch: Arch::Arm64, ..deployment() }).unwrap();
    close(arm.cost(Component::LambdaDuration), base.cost(Component::LambdaDuration) / 0.0000166667 * 0.0000133334);
    let eventual =
        price_tier(1000, &w, &usage, &pricing, &Deployment { eventual_polls: true, ..deployment() }).unwrap();
    let poll_reads = 43_800_000.0 / 1e6 * 0.125;
    close(eventual.cost(Component::DynamodbReads), base.cost(Component::DynamodbReads) - poll_reads / 2.0);
    let logging =
        price_tier(1000, &w, &usage, &pricing, &Deployment { default_logging: true, ..deployment() }).unwrap();
    let requests = base.requests_per_second * 730.0 * 3600.0;
    let ingested = requests * (330.0 + 167.0) / 1024f64.powi(3);
    close(logging.cost(Component::Logs), ingested * 0.50 + ingested / (730.0 / 24.0) * 14.0 * 0.03);
}

#[test]
fn conversation_requests_are_priced_by_their_measured_usage() {
    let (pricing, usage) = (parse_pricing_for_tests(), usage());
    let base = price_tier(1000, &workload(), &usage, &pricing, &deployment()).unwrap();
    let busy = Workload {
        inbox_reads_per_user_per_day: 5.0,
        history_pages_per_user_per_day: 5.0,
        read_marks_per_user_per_day: 10.0,
        ..workload()
    };
    let tier = price_tier(1000, &busy, &usage, &pricing, &deployment()).unwrap();
    let per_month = |rate: f64| 1000.0 * rate * DAYS_PER_MONTH;
    let (inboxes, pages, marks) = (per_month(5.0), per_month(5.0), per_month(10.0));
    let reads = (inboxes * 3.0 + pages * 3.0) / 1e6 * 0.125;
    close(tier.cost(Component::DynamodbReads), base.cost(Component::DynamodbReads) + reads);
    close(tier.cost(Component::DynamodbWrites), base.cost(Component::DynamodbWrites) + marks * 4.0 / 1e6 * 0.625);
    let requests = (inboxes + pages + marks) / 1e6;
    close(tier.cost(Component::LambdaRequests), base.cost(Component::LambdaRequests) + requests * 0.20);
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
    close(tiered(100.0, &tiers), 100.0);
    close(tiered(500.0, &tiers), 300.0 + 200.0 * 0.9);
    close(tiered(0.0, &tiers), 0.0);
}
