//! A quick run of the whole harness (a few seconds, small data) against the runtime binary built
//! for the tests: every scenario must complete without a single failed request. Timing is not
//! asserted here; the targets are checked by `cargo xtask bench`.

use std::path::PathBuf;
use std::process::Command;

/// The `runtime` binary that `cargo test --workspace` builds next to this package's binaries.
fn runtime_binary() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_bench"));
    let runtime = bench.with_file_name(format!("runtime{}", std::env::consts::EXE_SUFFIX));
    assert!(runtime.exists(), "{} is missing: build the workspace (cargo xtask test does)", runtime.display());
    runtime
}

#[test]
fn every_scenario_completes_without_errors() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--quick")
        .arg("--runtime")
        .arg(runtime_binary())
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("run the bench");
    assert!(status.success(), "the quick bench failed: {status}");

    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("results.json")).unwrap()).unwrap();
    let scenarios: Vec<&str> =
        results["scenarios"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    let expected = [
        "health",
        "poll-empty",
        "poll-new",
        "send-direct",
        "send-group",
        "inbox",
        "history",
        "mark-read",
        "realistic",
        "flood",
        "stream",
    ];
    assert_eq!(scenarios, [&expected[..], &["exchange-rs256", "exchange-es256"]].concat());
    for scenario in results["scenarios"].as_array().unwrap() {
        assert_eq!(scenario["summary"]["errors"], 0, "{scenario}");
        assert!(scenario["summary"]["requests"].as_u64().unwrap() > 0, "{scenario}");
    }
    let growth = results["growth"].as_array().unwrap();
    assert_eq!(growth.len(), 2);
    for stage in growth {
        assert_eq!(stage["poll"]["errors"], 0);
        assert_eq!(stage["send"]["errors"], 0);
        assert!(stage["poll"]["requests"].as_u64().unwrap() > 0);
    }
    assert!(!results["targets"].as_array().unwrap().is_empty());
    assert!(std::fs::read_to_string(out.path().join("results.md")).unwrap().contains("| health |"));
}
