//! `provisioner cost-report` through the binary, on the repository's own pricing, workload and
//! measured usage: the table, JSON and CSV agree, totals rise with users, `--explain` shows the
//! formulas, `--chart` draws a readable SVG, and a broken pricing file is one clear error.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn config(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config").join(file).display().to_string()
}

fn cost_report(extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["--config", &config("deploy.toml"), "cost-report"])
        .args([
            "--pricing",
            &config("pricing.toml"),
            "--workload",
            &config("workload.toml"),
            "--usage",
            &config("usage.toml"),
        ])
        .args(extra)
        .env_clear()
        .output()
        .expect("run the provisioner")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn the_table_json_and_csv_carry_the_same_numbers() {
    let json: Value = serde_json::from_str(&stdout(&cost_report(&["--output", "json"]))).unwrap();
    let tiers = json["tiers"].as_array().unwrap();
    let users: Vec<u64> = tiers.iter().map(|t| t["users"].as_u64().unwrap()).collect();
    assert_eq!(users, [1_000, 10_000, 100_000, 1_000_000, 10_000_000]);
    let totals: Vec<f64> = tiers.iter().map(|t| t["total"].as_f64().unwrap()).collect();
    assert!(totals.windows(2).all(|w| w[0] < w[1]), "totals rise with users: {totals:?}");
    for tier in tiers {
        let sum: f64 = tier["components"].as_array().unwrap().iter().map(|c| c[1].as_f64().unwrap()).sum();
        assert!((sum - tier["total"].as_f64().unwrap()).abs() < 1e-6, "{tier}");
    }

    let csv = stdout(&cost_report(&["--output", "csv"]));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("users,item,usd_per_month"));
    for (tier, total) in users.iter().zip(&totals) {
        let row = csv.lines().find(|l| l.starts_with(&format!("{tier},total,"))).unwrap();
        let value: f64 = row.rsplit(',').next().unwrap().parse().unwrap();
        assert_eq!(value, *total, "CSV and JSON agree for {tier}");
    }

    let table = stdout(&cost_report(&[]));
    for label in
        ["API Gateway HTTP API", "Lambda duration", "DynamoDB reads", "Data transfer out", "ECR storage", "per user"]
    {
        assert!(table.contains(label), "{label} in\n{table}");
    }
    for total in &totals {
        let shown =
            if *total >= 100.0 { format!("${}", cost::format::num(total.round())) } else { format!("${total:.2}") };
        assert!(table.contains(&shown), "the table shows the JSON total {shown}:\n{table}");
    }
    for alternative in
        ["Lambda function URL", "arm64", "every 5 minutes", "eventually consistent", "default logging", "push over"]
    {
        assert!(table.contains(alternative), "{alternative} in\n{table}");
    }
    assert!(table.contains("warning, 1M users: peak"), "the 1M tier crosses API Gateway's throttle:\n{table}");
}

/// Push against polling: at the reported break-even online share, push costs what polling does.
#[test]
fn push_costs_what_polling_does_at_the_break_even_share() {
    let json: Value = serde_json::from_str(&stdout(&cost_report(&["--output", "json"]))).unwrap();
    let push = &json["push"];
    let tier = 3; // 1M users
    assert_eq!(json["tiers"][tier]["users"], 1_000_000);
    let polling = push["polling_function_url"][tier].as_f64().unwrap();
    let share = push["break_even_function_url"][tier].as_f64().expect("push reaches the function URL's cost");
    assert!(push["push"][tier].as_f64().unwrap() < polling, "at the default 10 % online push costs less");
    assert!((0.1..1.0).contains(&share), "{share}");
    let at_share: Value =
        serde_json::from_str(&stdout(&cost_report(&["--output", "json", "--online-share", &share.to_string()])))
            .unwrap();
    let pushed = at_share["push"]["push"][tier].as_f64().unwrap();
    assert!((pushed - polling).abs() / polling < 1e-3, "push {pushed} vs polling {polling} at {share}");
    // Above it, push costs more.
    let above: Value = serde_json::from_str(&stdout(&cost_report(&[
        "--output",
        "json",
        "--online-share",
        &(share + 0.05).to_string(),
    ])))
    .unwrap();
    assert!(above["push"]["push"][tier].as_f64().unwrap() > polling);

    let table = stdout(&cost_report(&["--push", "--explain", "1000000"]));
    for figure in ["connection minutes", "keep-alive pings", "frames posted", "billed duration, resume", "polls"] {
        assert!(table.contains(figure), "{figure} in\n{table}");
    }
}

#[test]
fn explain_shows_every_figure_with_its_formula() {
    let text = stdout(&cost_report(&["--explain", "1000000"]));
    for figure in [
        "polls",
        "43,800,000,000",
        "billed duration, empty poll",
        "GB-seconds",
        "read request units",
        "total",
        "per user",
    ] {
        assert!(text.contains(figure), "{figure} in\n{text}");
    }
    assert!(text.contains("1,000,000 users × 1 polls/min × 43,800 min"), "{text}");
    let unknown = cost_report(&["--explain", "1234"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--explain 1234: not one of the tiers"));
}

#[test]
fn workload_flags_override_the_file() {
    let json = |extra: &[&str]| -> Value {
        let mut args = vec!["--output", "json"];
        args.extend(extra);
        serde_json::from_str(&stdout(&cost_report(&args))).unwrap()
    };
    let fewer = json(&["--users", "1000,2000", "--polls-per-user-per-minute", "0.2"]);
    let tiers = fewer["tiers"].as_array().unwrap();
    assert_eq!(tiers.len(), 2);
    assert_eq!(fewer["workload"]["polls_per_user_per_minute"], 0.2);
    let bad = cost_report(&["--group-share", "2"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("group_share"));
}

#[test]
fn the_chart_is_a_readable_svg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cost.svg");
    stdout(&cost_report(&["--chart", path.to_str().unwrap()]));
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    for text in
        ["Monthly AWS bill by component", "users", "USD per month", "API Gateway HTTP API", "Lambda duration", "10M"]
    {
        assert!(svg.contains(text), "{text} in the chart");
    }
}

#[test]
fn a_broken_pricing_file_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("pricing.toml");
    let text = std::fs::read_to_string(config("pricing.toml")).unwrap().replace("per_million_read_units = 0.125\n", "");
    std::fs::write(&broken, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["--config", &config("deploy.toml"), "cost-report", "--pricing", broken.to_str().unwrap()])
        .args(["--workload", &config("workload.toml"), "--usage", &config("usage.toml")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("per_million_read_units") && stderr.starts_with("provisioner: configuration:"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
