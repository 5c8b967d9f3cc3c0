//! Black-box tests of the real binary: started on port 0, driven over HTTP, killed hard.

use std::path::Path;
use std::time::Duration;

use messaging_tests::process::Server;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::process::Command;

/// Starts the binary under test on a fresh data directory.
async fn start(data_dir: &Path) -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_runtime")), &["--data-dir".as_ref(), data_dir.as_os_str()]).await
}

async fn call(
    client: &Client,
    method: &str,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method.parse().unwrap(), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// The README's curl walkthrough, step by step, against the real binary.
#[tokio::test]
async fn readme_walkthrough() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let http = Client::new();
    macro_rules! c {
        ($method:expr, $path:expr, $token:expr, $body:expr) => {
            call(&http, $method, server.url(&$path), $token, $body)
        };
    }

    let (status, health) = c!("GET", "/health", None, None).await;
    assert_eq!((status, health["status"].as_str()), (StatusCode::OK, Some("ok")));

    let (status, alice) = c!("POST", "/v1/users", None, Some(json!({"name": "alice"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, bob) = c!("POST", "/v1/users", None, Some(json!({"name": "bob"}))).await;
    let (_, carol) = c!("POST", "/v1/users", None, Some(json!({"name": "carol"}))).await;
    let id = |u: &Value| u["id"].as_str().unwrap().to_owned();
    let token = |u: &Value| u["token"].as_str().unwrap().to_owned();
    let (alice_id, bob_id, carol_id) = (id(&alice), id(&bob), id(&carol));
    let (alice_token, bob_token, carol_token) = (token(&alice), token(&bob), token(&carol));

    let (status, profile) = c!("GET", &format!("/v1/users/{bob_id}"), Some(&alice_token), None).await;
    assert_eq!((status, profile), (StatusCode::OK, json!({"id": bob_id, "name": "bob"})));

    let path = format!("/v1/users/{bob_id}/messages");
    let body = json!({"text": "hi bob", "client_id": "msg-1"});
    let (status, sent) = c!("POST", &path, Some(&alice_token), Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, replay) = c!("POST", &path, Some(&alice_token), Some(body)).await;
    assert_eq!((status, &replay), (StatusCode::OK, &sent));

    let (status, feed) = c!("GET", "/v1/messages", Some(&bob_token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feed["messages"], json!([sent]));
    let next = feed["next"].as_str().unwrap().to_owned();

    let (status, _) = c!("PUT", &format!("/v1/me/blocks/{alice_id}"), Some(&bob_token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, blocks) = c!("GET", "/v1/me/blocks", Some(&bob_token), None).await;
    assert_eq!(blocks, json!({"blocked": [alice_id]}));
    let (status, error) = c!("POST", &path, Some(&alice_token), Some(json!({"text": "are you there?"}))).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("blocked")));
    let (status, _) = c!("DELETE", &format!("/v1/me/blocks/{alice_id}"), Some(&bob_token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, group) = c!("POST", "/v1/groups", Some(&alice_token), Some(json!({"name": "team"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let group_id = id(&group);
    for member in [&bob_id, &carol_id] {
        let (status, _) = c!("PUT", &format!("/v1/groups/{group_id}/members/{member}"), Some(&alice_token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (_, group) = c!("GET", &format!("/v1/groups/{group_id}"), Some(&carol_token), None).await;
    assert_eq!(group["members"], json!([alice_id, bob_id, carol_id]));
    let (status, posted) =
        c!("POST", &format!("/v1/groups/{group_id}/messages"), Some(&carol_token), Some(json!({"text": "hello team"})))
            .await;
    assert_eq!((status, posted["kind"].as_str()), (StatusCode::CREATED, Some("group")));

    let (_, feed) = c!("GET", &format!("/v1/messages?after={next}&limit=10"), Some(&bob_token), None).await;
    assert_eq!(feed["messages"], json!([posted]));
    assert_eq!(feed["has_more"], false);

    let (status, _) =
        c!("DELETE", &format!("/v1/groups/{group_id}/members/{carol_id}"), Some(&carol_token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = c!("GET", &format!("/v1/groups/{group_id}"), Some(&carol_token), None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_a_member")));

    let (status, doc) = c!("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/v1/messages"]["get"].is_object());
    let (status, error) = c!("GET", "/v1/messages", None, None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing_token")));
    server.kill_hard().await;
}

/// Every send the server acknowledged is in the feeds after `kill -9` and a restart, including
/// sends that were in flight when it died; and tokens keep working (the key file persisted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let http = Client::new();
    let mut users = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let (_, user) = call(&http, "POST", server.url("/v1/users"), None, Some(json!({"name": name}))).await;
        users.push((user["id"].as_str().unwrap().to_owned(), user["token"].as_str().unwrap().to_owned()));
    }

    // Four senders send until the server dies; each remembers what was acknowledged.
    let mut senders = Vec::new();
    for s in 0..4 {
        let (http, base, users) = (http.clone(), server.base.clone(), users.clone());
        senders.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                let to = &users[(s + 1) % users.len()].0;
                let request = http
                    .post(format!("{base}/v1/users/{to}/messages"))
                    .bearer_auth(&users[s].1)
                    .json(&json!({"text": format!("{s}-{i}")}))
                    .send();
                match request.await {
                    Ok(response) if response.status() == StatusCode::CREATED => {
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        if let Some(id) = body["id"].as_str() {
                            acknowledged.push(id.to_owned());
                        }
                    }
                    _ => return acknowledged,
                }
            }
            unreachable!()
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill_hard().await;
    let mut acknowledged = Vec::new();
    for sender in senders {
        acknowledged.extend(sender.await.unwrap());
    }
    assert!(acknowledged.len() > 20, "too few sends before the kill to show anything: {}", acknowledged.len());

    let server = start(dir.path()).await;
    let mut delivered = std::collections::HashSet::new();
    for (_, token) in &users {
        let mut after: Option<String> = None;
        loop {
            let query = after.as_ref().map_or("limit=500".to_owned(), |a| format!("limit=500&after={a}"));
            let (status, page) =
                call(&http, "GET", server.url(&format!("/v1/messages?{query}")), Some(token), None).await;
            assert_eq!(status, StatusCode::OK, "tokens issued before the crash still work: {page}");
            for message in page["messages"].as_array().unwrap() {
                delivered.insert(message["id"].as_str().unwrap().to_owned());
            }
            after = Some(page["next"].as_str().unwrap().to_owned());
            if page["has_more"] == false {
                break;
            }
        }
    }
    let lost: Vec<_> = acknowledged.iter().filter(|id| !delivered.contains(*id)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged sends were lost: {lost:?}", lost.len(), acknowledged.len());
    server.kill_hard().await;
}

/// SIGTERM stops the server cleanly (exit status 0) after it answered what it had accepted.
#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let (status, _) = call(&Client::new(), "GET", server.url("/health"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    let pid = server.child.id().unwrap().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(signalled.success());
    let exit =
        tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await.expect("stopped in time").unwrap();
    assert!(exit.success(), "exit status {exit}");
}
