//! Push on AWS, end to end on loopback: the runtime binary started as the Lambda service starts
//! it, under the Lambda Runtime API emulator (`cargo lambda watch`), over DynamoDB (moto), fed
//! API Gateway WebSocket events (`$connect`, `$disconnect`, messages) and HTTP API events; its
//! `PostToConnection` calls land on a recorder standing in for the WebSocket API's management
//! endpoint.

use std::path::Path;
use std::time::{Duration, Instant};

use contract::env::var;
use messaging_tests::backend::{emulator_endpoint, fresh_tables, lambda_runtime_api};
use messaging_tests::lambda_events::{
    Reply, WebSocketReply, call, function_command, function_settings, invoke_websocket, websocket_event,
};
use messaging_tests::push_recorder::PushRecorder;
use messaging_tests::transport::{Lambda, register};
use reqwest::Client;
use serde_json::{Value, json};
use tokio::process::Command;

struct Function {
    http: Client,
    api: String,
}

impl Function {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        call(&self.http, &self.api, method, path, token, body).await
    }

    async fn event(
        &self,
        kind: &str,
        connection: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> WebSocketReply {
        invoke_websocket(&self.http, &self.api, websocket_event(kind, connection, headers, body)).await
    }

    async fn connect(&self, connection: &str, token: &str) -> WebSocketReply {
        self.event("CONNECT", connection, &[("Authorization", &format!("Bearer {token}"))], None).await
    }

    async fn register(&self, name: &str) -> (String, String) {
        let lambda = Lambda { http: self.http.clone(), api: self.api.clone() };
        register(&lambda, name).await
    }

    async fn send_direct(&self, token: &str, to: &str, text: &str) -> Value {
        let sent =
            self.call("POST", &format!("/v1/users/{to}/messages"), Some(token), Some(json!({ "text": text }))).await;
        assert_eq!(sent.status, 201, "{}", sent.body);
        sent.body
    }

    /// Everything in the caller's feed, and the cursor past it.
    async fn feed(&self, token: &str) -> (Vec<Value>, String) {
        let page = self.call("GET", "/v1/messages?limit=500", Some(token), None).await;
        assert_eq!(page.status, 200);
        (page.body["messages"].as_array().unwrap().clone(), page.body["next"].as_str().unwrap().to_owned())
    }
}

fn messages(frames: &[Value]) -> Vec<Value> {
    frames.iter().filter(|f| f["type"] == "message").map(|f| f["message"].clone()).collect()
}

/// Each message frame's `after` is the cursor of the frame before it.
fn assert_chained(frames: &[Value]) {
    for pair in frames.windows(2) {
        assert_eq!(pair[1]["after"], pair[0]["cursor"], "frames chain by cursor: {pair:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_events_and_pushes_through_the_lambda_runtime_api() {
    let (Some(dynamodb), Some(api)) = (emulator_endpoint(), lambda_runtime_api()) else { return };
    let recorder = PushRecorder::start().await;
    let tables = fresh_tables();
    let binary = Path::new(env!("CARGO_BIN_EXE_runtime"));
    let mut settings = function_settings(&dynamodb, &tables);
    settings.push((var::PUSH_ENDPOINT.into(), recorder.endpoint.clone()));
    settings.push((var::PUSH_BUDGET_MS.into(), "1000".to_owned()));
    let created = Command::new(binary).arg("create-tables").envs(settings.clone()).status().await.unwrap();
    assert!(created.success());
    let mut process = function_command(binary, &api, 512, &settings).spawn().expect("start the function");
    let function = Function { http: Client::new(), api };

    let (_, a) = function.register("alice").await;
    let (bob, b) = function.register("bob").await;

    // $connect: the token is checked like any request's, and a refused connection is recorded nowhere.
    let anonymous = function.event("CONNECT", "anon=", &[], None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(serde_json::from_str::<Value>(&anonymous.body).unwrap()["error"]["code"], "missing_token");
    let forged = function.connect("forged=", &format!("{bob}.AAAA")).await;
    assert_eq!((forged.status, forged.body.contains("invalid_token")), (401, true));
    // Bob on two devices: a header, and a browser's subprotocols (answered with ours only).
    assert_eq!(function.connect("bob-1=", &b).await.status, 200);
    let browser = function
        .event("CONNECT", "bob-2=", &[("Sec-WebSocket-Protocol", &format!("messaging.v1, bearer.{b}"))], None)
        .await;
    assert_eq!(browser.status, 200);
    assert_eq!(browser.headers["sec-websocket-protocol"], json!(["messaging.v1"]));
    assert_eq!(function.connect("alice-1=", &a).await.status, 200);

    // A direct message reaches every connection of both feeds it lands in, each frame with
    // that user's own cursors.
    let hi = function.send_direct(&a, &bob, "hi bob").await;
    let posts = recorder.take();
    let mut to: Vec<&str> = posts.iter().map(|p| p.connection.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["alice-1=", "bob-1=", "bob-2="]);
    assert!(posts.iter().all(|p| p.frame["type"] == "message" && p.frame["message"] == hi));
    let (bob_feed, bob_next) = function.feed(&b).await;
    assert_eq!(bob_feed, std::slice::from_ref(&hi));
    let bob_frame = posts.iter().find(|p| p.connection == "bob-1=").unwrap();
    assert_eq!(bob_frame.frame["cursor"], json!(bob_next), "the frame's cursor is where a poll would resume");
    let alice_next = function.feed(&a).await.1;
    assert_eq!(posts.iter().find(|p| p.connection == "alice-1=").unwrap().frame["cursor"], json!(alice_next));
    assert_eq!(recorder.unsigned(), 0, "every post is signed");

    // A group message: one push per member connection, membership read at send time.
    let group = function.call("POST", "/v1/groups", Some(&a), Some(json!({ "name": "team" }))).await;
    let group = group.body["id"].as_str().unwrap().to_owned();
    assert_eq!(function.call("PUT", &format!("/v1/groups/{group}/members/{bob}"), Some(&a), None).await.status, 204);
    let hello =
        function.call("POST", &format!("/v1/groups/{group}/messages"), Some(&b), Some(json!({"text": "hello"}))).await;
    assert_eq!(hello.status, 201);
    let posts = recorder.take();
    assert_eq!(posts.len(), 3);
    assert!(posts.iter().all(|p| p.frame["message"] == hello.body));
    let bob_second = posts.iter().find(|p| p.connection == "bob-2=").unwrap();
    assert_eq!(bob_second.frame["after"], json!(bob_next), "chained to the frame before it");

    // A connection API Gateway says is gone (410) is forgotten: posted to once, never again.
    recorder.close("bob-2=");
    function.send_direct(&a, &bob, "two").await;
    function.send_direct(&a, &bob, "three").await;
    let posts = recorder.take();
    assert_eq!(posts.iter().filter(|p| p.connection == "bob-1=").count(), 2);
    assert_eq!(recorder.refused("bob-2="), 1, "a connection that answered 410 is not posted to again");

    // Resume: the feed after a cursor, in order, chained, then caught_up at the poll's cursor.
    let (bob_feed, bob_next) = function.feed(&b).await;
    assert_eq!(function.event("MESSAGE", "bob-1=", &[], Some(r#"{"action":"resume"}"#)).await.status, 200);
    let frames = recorder.frames_for("bob-1=");
    let (last, entries) = frames.split_last().unwrap();
    assert_eq!(messages(entries), bob_feed);
    assert_chained(entries);
    assert_eq!(*last, json!({ "type": "caught_up", "cursor": bob_next }));
    recorder.take();
    let from_second = entries[0]["cursor"].as_str().unwrap();
    let body = json!({ "action": "resume", "after": from_second }).to_string();
    function.event("MESSAGE", "bob-1=", &[], Some(&body)).await;
    assert_eq!(messages(&recorder.frames_for("bob-1=")), bob_feed[1..]);

    // What the server cannot act on is answered on the connection, with a stable code.
    recorder.take();
    for (body, code) in [
        (r#"{"action":"dance"}"#, "invalid_message"),
        ("not json", "invalid_message"),
        (r#"{"action":"resume","after":"AAAA"}"#, "invalid_cursor"),
    ] {
        function.event("MESSAGE", "bob-1=", &[], Some(body)).await;
        let frames = recorder.take();
        assert_eq!(frames.len(), 1, "{body}");
        assert_eq!((frames[0].frame["type"].as_str(), frames[0].frame["code"].as_str()), (Some("error"), Some(code)));
    }
    function.event("MESSAGE", "bob-1=", &[], Some(r#"{"action":"ping"}"#)).await;
    assert!(recorder.take().is_empty(), "a ping only keeps the connection alive");
    function.event("MESSAGE", "stranger=", &[], Some(r#"{"action":"resume"}"#)).await;
    assert_eq!(recorder.take()[0].frame["code"], "unknown_connection");

    // A push slower than its budget does not hold the send beyond it, and loses nothing.
    recorder.slow_down("alice-1=", Duration::from_secs(20));
    let started = Instant::now();
    let slow = function.send_direct(&a, &bob, "slow").await;
    assert!(started.elapsed() < Duration::from_secs(10), "the send waited {:?} for a push", started.elapsed());
    assert_eq!(function.feed(&b).await.0.last(), Some(&slow));

    // $disconnect: no more pushes to that connection.
    assert_eq!(function.event("DISCONNECT", "bob-1=", &[], None).await.status, 200);
    recorder.take();
    function.send_direct(&a, &bob, "after disconnect").await;
    assert!(recorder.take().iter().all(|p| p.connection != "bob-1="));

    // Signing out everywhere closes the user's connections at once: `DeleteConnection` for each
    // (connection records do not say which session opened them, so a single logout does too).
    let (carol, c) = function.register("carol").await;
    for connection in ["carol-1=", "carol-2="] {
        assert_eq!(function.connect(connection, &c).await.status, 200);
    }
    assert_eq!(function.call("DELETE", "/v1/sessions", Some(&c), None).await.status, 204);
    let mut closed = recorder.deleted();
    closed.sort();
    assert_eq!(closed, ["carol-1=", "carol-2="], "{carol}'s connections");

    process.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), process.wait()).await;
}
