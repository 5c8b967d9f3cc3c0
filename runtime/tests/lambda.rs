//! The Lambda entry point against a real Lambda Runtime API emulator (`cargo lambda watch
//! --only-lambda-apis`, started by `cargo xtask test`): the runtime binary is started the way the
//! Lambda service starts it, and the API is driven with API Gateway HTTP API (payload 2.0) events.

use std::path::Path;
use std::time::{Duration, Instant};

use messaging_tests::backend::{emulator_endpoint, fresh_tables, lambda_runtime_api};
use messaging_tests::lambda_events::{call, event, function_command, function_settings, invoke};
use reqwest::Client;
use serde_json::{Value, json};
use tokio::process::Command;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_served_through_the_lambda_runtime_api() {
    let (Some(dynamodb), Some(api)) = (emulator_endpoint(), lambda_runtime_api()) else { return };
    let tables = fresh_tables();
    let binary = Path::new(env!("CARGO_BIN_EXE_runtime"));
    let settings = function_settings(&dynamodb, &tables);
    let created = Command::new(binary).arg("create-tables").envs(settings.clone()).status().await.unwrap();
    assert!(created.success());

    let started = Instant::now();
    let mut function = function_command(binary, &api, 512, &settings).spawn().expect("start the function");
    let http = Client::new();
    let call = |method: &str, path: &str, token: Option<&str>, body: Option<Value>| {
        call(&http, &api, method, path, token, body)
    };

    let health = call("GET", "/health", None, None).await;
    eprintln!("lambda: start to first response {:?}", started.elapsed());
    assert_eq!((health.status, health.body["status"].as_str()), (200, Some("ok")));

    let alice = call("POST", "/v1/users", None, Some(json!({"name": "alice"}))).await;
    assert_eq!(alice.status, 201);
    assert_eq!(alice.headers["content-type"], "application/json");
    let bob = call("POST", "/v1/users", None, Some(json!({"name": "bob"}))).await;
    let (a, b) = (alice.body["token"].as_str().unwrap().to_owned(), bob.body["token"].as_str().unwrap().to_owned());
    let (a_id, b_id) = (alice.body["id"].as_str().unwrap().to_owned(), bob.body["id"].as_str().unwrap().to_owned());

    let anonymous = call("GET", "/v1/messages", None, None).await;
    assert_eq!((anonymous.status, anonymous.body["error"]["code"].as_str()), (401, Some("missing_token")));
    assert_eq!(anonymous.headers["www-authenticate"], "Bearer");

    let blocked = call("PUT", &format!("/v1/me/blocks/{a_id}"), Some(&b), None).await;
    assert_eq!((blocked.status, blocked.body.clone()), (204, Value::Null));
    let to_bob = &format!("/v1/users/{b_id}/messages");
    let refused = call("POST", to_bob, Some(&a), Some(json!({"text": "hi"}))).await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (403, Some("blocked")));
    assert_eq!(call("DELETE", &format!("/v1/me/blocks/{a_id}"), Some(&b), None).await.status, 204);

    let dm = call("POST", to_bob, Some(&a), Some(json!({"text": "hi bob", "client_id": "c1"}))).await;
    assert_eq!((dm.status, dm.body["kind"].as_str()), (201, Some("direct")));
    let replay = call("POST", to_bob, Some(&a), Some(json!({"text": "hi bob", "client_id": "c1"}))).await;
    assert_eq!((replay.status, &replay.body), (200, &dm.body));

    let group = call("POST", "/v1/groups", Some(&a), Some(json!({"name": "team"}))).await;
    assert_eq!(group.status, 201);
    let group_id = group.body["id"].as_str().unwrap().to_owned();
    let added = call("PUT", &format!("/v1/groups/{group_id}/members/{b_id}"), Some(&a), None).await;
    assert_eq!(added.status, 204);
    let posted =
        call("POST", &format!("/v1/groups/{group_id}/messages"), Some(&b), Some(json!({"text": "hello"}))).await;
    assert_eq!((posted.status, posted.body["kind"].as_str()), (201, Some("group")));

    let feed = call("GET", "/v1/messages?limit=10", Some(&b), None).await;
    assert_eq!(feed.status, 200);
    assert_eq!(feed.body["messages"], json!([dm.body, posted.body]));
    let next = feed.body["next"].as_str().unwrap().to_owned();
    let idle = call("GET", &format!("/v1/messages?after={next}"), Some(&b), None).await;
    assert_eq!((idle.body["messages"].clone(), idle.body["next"].as_str()), (json!([]), Some(next.as_str())));
    let bad = call("GET", "/v1/messages?limit=0", Some(&b), None).await;
    assert_eq!((bad.status, bad.body["error"]["code"].as_str()), (400, Some("invalid_limit")));

    // Resident memory after 1,000 requests, reported for the README (not asserted: speed and
    // size are measured, not tested).
    for _ in 0..1000 - 16 {
        let poll = call("GET", &format!("/v1/messages?after={next}"), Some(&b), None).await;
        assert_eq!(poll.status, 200);
    }
    eprintln!("lambda: RSS after 1,000 requests {} KiB", rss_kib(function.id().unwrap()));
    function.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), function.wait()).await;

    // The source of a request is API Gateway's `sourceIp`, whatever its headers say: with
    // `unauthenticated_per_ip` at 2, a third registration from one address is refused, one from
    // another address is not.
    let mut limited = settings.clone();
    limited.push((runtime::domain::Rule::UnauthenticatedPerIp.variable().to_owned(), "2".to_owned()));
    let mut function = function_command(binary, &api, 512, &limited).spawn().expect("start the function");
    let register = |source: &'static str, forwarded: Option<&'static str>| {
        let mut event = event("POST", "/v1/users", "", None, Some(json!({"name": "n"})));
        event["requestContext"]["http"]["sourceIp"] = json!(source);
        if let Some(forwarded) = forwarded {
            event["headers"]["x-forwarded-for"] = json!(forwarded);
        }
        invoke(&http, &api, event)
    };
    let into = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 60_000;
    if into > 50_000 {
        tokio::time::sleep(Duration::from_millis((60_000 - into) as u64 + 200)).await;
    }
    assert_eq!(register("127.0.0.2", None).await.status, 201);
    assert_eq!(register("127.0.0.2", Some("127.0.0.9")).await.status, 201);
    let refused = register("127.0.0.2", Some("127.0.0.10")).await;
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (429, Some("rate_limited")));
    assert!(refused.headers["retry-after"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()), "{:?}", refused.headers);
    assert_eq!(register("127.0.0.3", None).await.status, 201, "another address");
    function.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), function.wait()).await;
}
