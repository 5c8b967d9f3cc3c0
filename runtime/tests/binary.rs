//! Black-box tests of the real binary: started on port 0, driven over HTTP, killed hard.

use std::path::Path;
use std::time::Duration;

use messaging_tests::process::Server;
use messaging_tests::stream::{Auth, StreamClient};
use messaging_tests::transport::{Http, Transport};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

/// Starts the binary under test on a fresh data directory.
async fn start(data_dir: &Path) -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_runtime")), &["--data-dir".as_ref(), data_dir.as_os_str()]).await
}

/// One request to the binary, its status as a `StatusCode` for the assertions below.
async fn call(api: &Http, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let (status, body) = api.call(method, path, token, body).await;
    (StatusCode::from_u16(status).expect("a valid status"), body)
}

/// The README's curl walkthrough, step by step, against the real binary.
#[tokio::test]
async fn readme_walkthrough() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let api = Http::new(&server.url(""));
    macro_rules! c {
        ($method:expr, $path:expr, $token:expr, $body:expr) => {
            call(&api, $method, &$path, $token, $body)
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

    // Bob's inbox, the conversation with Alice, his read position, and Alice's read receipts.
    let (_, inbox) = c!("GET", "/v1/conversations", Some(&bob_token), None).await;
    let kinds: Vec<(&str, &str, u64)> = inbox["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["name"].as_str().unwrap(), c["unread"].as_u64().unwrap()))
        .collect();
    assert_eq!(kinds, [("group", "team", 1), ("direct", "alice", 1)]);
    assert_eq!(inbox["conversations"][0]["last_message"], posted);
    let (_, history) =
        c!("GET", &format!("/v1/conversations/{alice_id}/messages?limit=20"), Some(&bob_token), None).await;
    assert_eq!((history["messages"].as_array().unwrap().len(), &history["next"]), (1, &json!(null)));
    let last = history["messages"][0]["id"].as_str().unwrap().to_owned();
    let read = json!({ "up_to": last });
    let (status, _) = c!("PUT", &format!("/v1/conversations/{alice_id}/read"), Some(&bob_token), Some(read)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, receipts) = c!("GET", &format!("/v1/conversations/{bob_id}"), Some(&alice_token), None).await;
    assert_eq!((receipts["kind"].as_str(), receipts["name"].as_str()), (Some("direct"), Some("bob")));
    assert_eq!(receipts["members"], json!([{"id": alice_id, "read_up_to": last}, {"id": bob_id, "read_up_to": last}]));

    let (status, doc) = c!("GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/v1/messages"]["get"].is_object());
    let (status, error) = c!("GET", "/v1/messages", None, None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing_token")));
    server.kill_hard().await;
}

/// Every acknowledged message is in every recipient's feed exactly once after each of 30
/// `kill -9`s at random moments of concurrent direct and group sends, cursors issued before a
/// crash still work after it, and the store reopens every time. `cargo xtask soak` runs more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let report = messaging_tests::crash::run(Path::new(env!("CARGO_BIN_EXE_runtime")), 30).await;
    eprintln!("{report:?}");
    assert!(
        report.acknowledged_direct > 20 && report.acknowledged_group > 20,
        "too few sends before the kills to show anything: {report:?}"
    );
}

/// SIGTERM stops the server cleanly (exit status 0) after it answered what it had accepted.
#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let (status, _) = call(&Http::new(&server.url("")), "GET", "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let pid = server.child.id().unwrap().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(signalled.success());
    let exit =
        tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await.expect("stopped in time").unwrap();
    assert!(exit.success(), "exit status {exit}");
}

/// Tokens never reach the log, at any level; cursors not at the default level.
#[tokio::test]
async fn secrets_stay_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_runtime"));
    let args = ["--data-dir".as_ref(), dir.path().as_os_str()];
    for (filter, secrets_kept_out) in [(Some("trace"), &["token"][..]), (None, &["token", "cursor"][..])] {
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let server = Server::start_logging(binary, &args, filter, log).await;
        let api = Http::new(&server.url(""));
        let (_, user) = call(&api, "POST", "/v1/users", None, Some(json!({"name": "a"}))).await;
        let (id, token) = (user["id"].as_str().unwrap(), user["token"].as_str().unwrap());
        let refresh_token = user["refresh_token"].as_str().unwrap();
        let (status, _) =
            call(&api, "POST", "/v1/sessions/refresh", None, Some(json!({"refresh_token": refresh_token}))).await;
        assert_eq!(status, StatusCode::OK);
        // A replayed refresh token is logged as an incident, without the token.
        let (status, _) =
            call(&api, "POST", "/v1/sessions/refresh", None, Some(json!({"refresh_token": refresh_token}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (_, _) =
            call(&api, "POST", &format!("/v1/users/{id}/messages"), Some(token), Some(json!({"text": "x"}))).await;
        let (_, page) = call(&api, "GET", "/v1/messages", Some(token), None).await;
        let cursor = page["next"].as_str().unwrap();
        let (status, _) = call(&api, "GET", &format!("/v1/messages?after={cursor}"), Some(token), None).await;
        assert_eq!(status, StatusCode::OK);
        // A refused token is still a secret (a mistyped one is usually nearly right).
        let (status, _) = call(&api, "GET", "/v1/me/blocks", Some(&format!("{token}x")), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // A stream opened the browser's way, with the token as a subprotocol.
        let mut stream = StreamClient::connect(&server.base, Auth::Subprotocol(token), None).await.unwrap();
        stream.until_caught_up(Duration::from_secs(10)).await.expect("the stream opens");
        stream.close().await;
        server.kill_hard().await;

        let logged = std::fs::read_to_string(&log_path).unwrap();
        assert!(!logged.is_empty() || filter.is_none(), "the trace level logged nothing: the test would prove nothing");
        let (_, signature) = token.rsplit_once('.').unwrap();
        let (_, refresh_secret) = refresh_token.rsplit_once('.').unwrap();
        for secret in secrets_kept_out {
            let values: &[&str] = if *secret == "token" { &[signature, refresh_secret] } else { &[cursor] };
            for value in values {
                assert!(!logged.contains(value), "the {secret} reached the log at {filter:?}:\n{logged}");
            }
        }
    }
}
