//! Generated hostile input: schemathesis derives requests from the server's own `/openapi.json`
//! (valid ones, and ones that break the schema on purpose) and checks every answer against the
//! document: no 5xx, only documented statuses and shapes, schema-valid requests accepted and
//! schema-invalid ones refused. Run with a valid token and without one.

use std::path::Path;
use std::process::Stdio;

use messaging_tests::backend::schemathesis;
use messaging_tests::process::Server;
use tokio::process::Command;

/// Fixed, so a failure reproduces; `cargo xtask test` is not the place to explore new seeds.
const SEED: &str = "20261124";
/// Per operation and phase; with fourteen operations this is well over 1,000 cases a run.
const MAX_EXAMPLES: &str = "100";
const MIN_CASES: u64 = 1000;

/// "2069 generated, 2069 passed" → 2069.
fn generated_cases(report: &str) -> Option<u64> {
    report.lines().find_map(|line| line.trim().split_once(" generated")?.0.trim().parse().ok())
}

async fn run(st: &str, server: &Server, token: Option<&str>) -> u64 {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/schemathesis.toml");
    let mut command = Command::new(st);
    command
        .arg("--config-file")
        .arg(config)
        .args(["run", &server.url("/openapi.json"), "--checks", "all", "--workers", "2"])
        .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES, "--no-color"])
        .stdin(Stdio::null())
        .current_dir(std::env::temp_dir());
    if let Some(token) = token {
        command.arg("--header").arg(format!("Authorization: Bearer {token}"));
    }
    let output = command.output().await.expect("start schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    let label = if token.is_some() { "with a token" } else { "without a token" };
    assert!(
        output.status.success(),
        "schemathesis {label} failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cases = generated_cases(&report).unwrap_or_else(|| panic!("no case count in:\n{report}"));
    eprintln!("schemathesis {label}: {cases} generated cases, 0 failures");
    assert!(cases >= MIN_CASES, "only {cases} cases {label}");
    cases
}

#[tokio::test]
async fn generated_requests_find_no_failure() {
    let Some(st) = schemathesis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start(Path::new(env!("CARGO_BIN_EXE_runtime")), &["--data-dir".as_ref(), dir.path().as_os_str()]).await;
    let (_, token) = server.register(&reqwest::Client::new(), "fuzzed").await;
    let with = run(&st, &server, Some(&token)).await;
    let without = run(&st, &server, None).await;
    eprintln!("schemathesis: {} cases in all", with + without);
    server.kill_hard().await;
}
