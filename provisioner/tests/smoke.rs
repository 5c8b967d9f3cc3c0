//! `provisioner smoke --url` against the real local server (the release runtime on the embedded
//! store): the same client steps a deployed stack gets, the local stream standing in for the AWS
//! WebSocket API (both take `resume` and `ping`). And a failure exits non-zero, saying why.

mod support;

use std::process::Stdio;
use std::time::Duration;

use contract::env::var;
use contract::key_ring::ServerKey;
use serde_json::Value;
use support::release_runtime;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The runtime serving on a free loopback port with `env`; its child and base URL.
async fn serve(binary: &std::path::Path, data: &std::path::Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env(var::DATA_DIR, data)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the runtime");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    let base = line.strip_prefix("listening on ").expect("the address line").to_owned();
    (child, base)
}

/// `provisioner --output json smoke --url <base>`: its exit status and report.
async fn smoke(base: &str, server_key: Option<&str>) -> (bool, Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provisioner"));
    command.args(["--output", "json", "smoke", "--url", base, "--timeout-secs", "20"]).env_remove(var::SERVER_KEY);
    if let Some(key) = server_key {
        command.env(var::SERVER_KEY, key);
    }
    let output = command.output().await.expect("run the provisioner");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    });
    (output.status.success(), report)
}

fn steps(report: &Value) -> Vec<(&str, bool)> {
    let steps = report["steps"].as_array().unwrap();
    steps.iter().map(|s| (s["step"].as_str().unwrap(), s["passed"].as_bool().unwrap())).collect()
}

#[tokio::test]
async fn smoke_passes_against_the_local_server_and_erases_its_users() {
    let Some(runtime) = release_runtime() else { return };
    let data = tempfile::tempdir().unwrap();
    let key = ServerKey::generate();
    let (_server, base) = serve(&runtime, data.path(), &[(var::SERVER_KEY, key.as_str())]).await;

    let (passed, report) = smoke(&base, Some(key.as_str())).await;
    let names: Vec<(&str, bool)> = steps(&report);
    let expected = [
        "health",
        "users",
        "stream",
        "direct message",
        "direct push",
        "group",
        "group message",
        "group push",
        "poll",
        "forged token",
        "clean up",
    ];
    assert_eq!(names, expected.map(|step| (step, true)), "{report:#}");
    assert!(passed, "exit status 0");
    assert!(report["steps"].as_array().unwrap().iter().all(|s| s["latency_ms"].is_number()), "{report:#}");

    // The users it made are gone: the server API knows neither app user any more.
    let users = report["steps"][1]["detail"].as_str().unwrap();
    let ids: Vec<&str> = users.split(" and ").collect();
    let http = reqwest::Client::new();
    let me = http.post(format!("{base}/v1/users")).json(&serde_json::json!({"name": "checker"})).send().await.unwrap();
    let token = me.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    for id in ids {
        let found = http.get(format!("{base}/v1/users/{id}")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(found.status(), reqwest::StatusCode::NOT_FOUND, "{id} was erased");
    }
}

#[tokio::test]
async fn smoke_fails_and_says_why_when_a_step_fails() {
    let Some(runtime) = release_runtime() else { return };
    let data = tempfile::tempdir().unwrap();
    let key = ServerKey::generate();
    let env = [(var::SERVER_KEY, key.as_str()), (var::AUTH_MODE, "app")];
    let (server, base) = serve(&runtime, data.path(), &env).await;

    // In `app` mode without the server key: open registration is refused, and the run stops there.
    let (passed, report) = smoke(&base, None).await;
    assert!(!passed, "exit status 1: {report:#}");
    assert_eq!(steps(&report), [("health", true), ("users", false)], "{report:#}");
    let detail = report["steps"][1]["detail"].as_str().unwrap();
    assert!(detail.contains("registration_closed") && detail.contains(var::SERVER_KEY), "{detail}");

    // Nothing listening: the first step fails, naming the request.
    drop(server);
    let (passed, report) = smoke(&base, Some(key.as_str())).await;
    assert!(!passed);
    assert_eq!(steps(&report), [("health", false)], "{report:#}");
}
