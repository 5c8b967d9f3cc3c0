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
    Reply, WebSocketReply, call, function_command, function_settings, invoke_websocket, websocket_event, with_query,
};
use messaging_tests::push_recorder::PushRecorder;
use messaging_tests::transport::{Lambda, register};
use reqwest::Client;
use runtime::domain::session::now;
use runtime::domain::{AccessClaims, Keys, Rule, SessionId, UserId};
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

/// Makes `connection` of `user` look recorded `seconds` ago, past the `$connect` grace period.
async fn recorded_ago(dynamodb: &str, entities: &str, user: &str, connection: &str, seconds: u64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let since = (now() - seconds).to_string();
    messaging_tests::backend::emulator_client(dynamodb)
        .update_item()
        .table_name(entities)
        .key("pk", AttributeValue::S(format!("U#{user}")))
        .key("sk", AttributeValue::S("connections".into()))
        .update_expression("SET #c.#since = :since")
        .expression_attribute_names("#c", format!("c#{connection}"))
        .expression_attribute_names("#since", "since")
        .expression_attribute_values(":since", AttributeValue::N(since))
        .send()
        .await
        .expect("backdate the connection");
}

/// Sends `action` on `connection`; the frames it has been posted since the recorder was last taken.
async fn says(function: &Function, recorder: &PushRecorder, connection: &str, action: Value) -> Vec<Value> {
    let body = action.to_string();
    assert_eq!(function.event("MESSAGE", connection, &[], Some(&body)).await.status, 200);
    recorder.frames_for(connection)
}

/// The entries of `message` frames and of a resume's `messages` frames, in order.
fn messages(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .flat_map(|f| match f["type"].as_str() {
            Some("message") => vec![f["message"].clone()],
            Some("messages") => f["messages"].as_array().unwrap().clone(),
            _ => Vec::new(),
        })
        .collect()
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

    let (alice, a) = function.register("alice").await;
    let (bob, b) = function.register("bob").await;

    // $connect: the token is checked like any request's, and a refused connection is recorded nowhere.
    let anonymous = function.event("CONNECT", "anon=", &[], None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(serde_json::from_str::<Value>(&anonymous.body).unwrap()["error"]["code"], "missing_token");
    let forged = function.connect("forged=", &format!("{bob}.AAAA")).await;
    assert_eq!((forged.status, forged.body.contains("invalid_token")), (401, true));
    // Bob on two devices: a header, and a browser's subprotocols (answered with ours only),
    // which asks for membership entries in its URL, as a local stream's.
    assert_eq!(function.connect("bob-1=", &b).await.status, 200);
    let protocols = format!("messaging.v1, bearer.{b}");
    let browser = websocket_event("CONNECT", "bob-2=", &[("Sec-WebSocket-Protocol", &protocols)], None);
    let browser = invoke_websocket(&function.http, &function.api, with_query(browser, "include=membership")).await;
    assert_eq!(browser.status, 200);
    // Anything else asked there is refused as the stream's query would be, and recorded nowhere.
    let odd = websocket_event("CONNECT", "bob-odd=", &[("Authorization", &format!("Bearer {b}"))], None);
    let odd = invoke_websocket(&function.http, &function.api, with_query(odd, "include=everything")).await;
    assert_eq!((odd.status, odd.body.contains("invalid_query")), (400, true), "{}", odd.body);
    // In `headers`, as AWS documents it, and only there: API Gateway merges the two fields.
    assert_eq!(browser.headers["sec-websocket-protocol"], "messaging.v1", "{:?}", browser.headers);
    assert!(browser.multi_value_headers.as_object().is_none_or(|m| m.is_empty()), "{:?}", browser.multi_value_headers);
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
    // Each of Bob's connections was last pushed "hi bob".
    let last_cursor =
        |connection: &str| posts.iter().find(|p| p.connection == connection).unwrap().frame["cursor"].clone();
    let (bob_first_last, bob_second_last) = (last_cursor("bob-1="), last_cursor("bob-2="));
    assert_eq!(function.call("PUT", &format!("/v1/groups/{group}/members/{bob}"), Some(&a), None).await.status, 204);
    // Being added put a membership entry in Bob's feed. It is pushed to the connection that
    // asked for such entries, chained to its last frame, with the cursor a poll that includes
    // them gives; the other connection is sent nothing.
    let posts = recorder.take();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let added = &posts[0];
    assert_eq!(added.connection, "bob-2=");
    let entry = &added.frame["message"];
    assert_eq!((entry["kind"].as_str(), entry["change"].as_str()), (Some("membership"), Some("added")));
    assert_eq!((entry["group"].as_str(), entry["by"].as_str()), (Some(group.as_str()), Some(alice.as_str())));
    assert_eq!(added.frame["after"], bob_second_last, "chained to the frame before it");
    let everything = function.call("GET", "/v1/messages?limit=500&include=membership", Some(&b), None).await;
    assert_eq!(everything.body["messages"].as_array().unwrap().last().unwrap(), entry);
    assert_eq!(added.frame["cursor"], everything.body["next"]);
    // For the other one the next frame's `after` is that entry's position, not his cursor, so
    // his client polls, as the protocol says for any gap — an empty page (he did not ask for
    // membership entries) whose `next` is past it.
    let (passed_over, bob_next) = function.feed(&b).await;
    assert!(passed_over.iter().all(|m| m["kind"] != "membership"));
    let hello =
        function.call("POST", &format!("/v1/groups/{group}/messages"), Some(&b), Some(json!({"text": "hello"}))).await;
    assert_eq!(hello.status, 201);
    let posts = recorder.take();
    assert_eq!(posts.len(), 3);
    assert!(posts.iter().all(|p| p.frame["message"] == hello.body));
    let bob_first = posts.iter().find(|p| p.connection == "bob-1=").unwrap();
    assert_eq!(bob_first.frame["after"], json!(bob_next), "chained to the poll");
    assert_ne!(bob_first.frame["after"], bob_first_last, "a gap where the entry was");
    let bob_second = posts.iter().find(|p| p.connection == "bob-2=").unwrap();
    assert_eq!(bob_second.frame["after"], added.frame["cursor"], "chained to the membership entry's frame");

    // API Gateway answers 410 for a connection still in its `$connect` as well as for one that is
    // gone: a connection recorded within the grace period is kept (posted to again), one recorded
    // longer ago is forgotten (never posted to again).
    recorder.close("bob-2=");
    function.send_direct(&a, &bob, "two").await;
    function.send_direct(&a, &bob, "two again").await;
    assert_eq!(recorder.refused("bob-2="), 2, "kept while it may still be connecting");
    recorded_ago(&dynamodb, &tables.entities_table, &bob, "bob-2=", 60).await;
    function.send_direct(&a, &bob, "three").await;
    function.send_direct(&a, &bob, "four").await;
    let posts = recorder.take();
    assert_eq!(posts.iter().filter(|p| p.connection == "bob-1=").count(), 4);
    assert_eq!(recorder.refused("bob-2="), 3, "forgotten once it cannot be connecting any more");

    // Resume: the feed after a cursor, in order, chained, then caught_up at the poll's cursor.
    let (bob_feed, bob_next) = function.feed(&b).await;
    assert_eq!(function.event("MESSAGE", "bob-1=", &[], Some(r#"{"action":"resume"}"#)).await.status, 200);
    let frames = recorder.frames_for("bob-1=");
    let (last, entries) = frames.split_last().unwrap();
    assert_eq!(messages(entries), bob_feed);
    assert_chained(entries);
    assert_eq!(*last, json!({ "type": "caught_up", "cursor": bob_next }));
    assert_eq!(entries.len(), 1, "a few entries fit in one frame: {entries:?}");
    recorder.take();
    let first = function.call("GET", "/v1/messages?limit=1", Some(&b), None).await;
    let body = json!({ "action": "resume", "after": first.body["next"] }).to_string();
    function.event("MESSAGE", "bob-1=", &[], Some(&body)).await;
    assert_eq!(messages(&recorder.frames_for("bob-1=")), bob_feed[1..]);

    // A resume of more than a frame holds: packed into frames of at most API Gateway's 32 KB,
    // each chained to the one before, everything once and in order.
    for i in 0..40 {
        function.send_direct(&a, &bob, &format!("{i:02} {}", "x".repeat(2_000))).await;
    }
    let (bob_feed, bob_next) = function.feed(&b).await;
    recorder.take();
    function.event("MESSAGE", "bob-1=", &[], Some(r#"{"action":"resume"}"#)).await;
    let frames = recorder.frames_for("bob-1=");
    let (last, entries) = frames.split_last().unwrap();
    assert!(entries.len() >= 3, "{} frames for {} entries", entries.len(), bob_feed.len());
    assert!(recorder.take().iter().all(|p| p.bytes <= 32 * 1024), "every frame within 32 KB");
    assert_eq!(messages(entries), bob_feed);
    assert_chained(entries);
    assert_eq!(*last, json!({ "type": "caught_up", "cursor": bob_next }));

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

    // Reauth, expiry and sign-outs, with tokens minted by the function's own key for chosen
    // sessions and expiries (a token is checked without a store read, so any session id works).
    let keys =
        Keys::from_hex(settings.iter().find(|(name, _)| name == var::TOKEN_KEY).map(|(_, v)| v).unwrap()).unwrap();
    let (carol, c) = function.register("carol").await;
    let carol_id = UserId::parse(&carol).unwrap();
    let token = |session: &SessionId, lifetime: u64| {
        keys.issue_access_token(&AccessClaims {
            user: carol_id.clone(),
            session: session.clone(),
            expires_at: now() + lifetime,
        })
    };
    let current = keys.verify_access_token(&c, now()).unwrap().session;
    let (tablet, watch) = (SessionId::generate(), SessionId::generate());
    assert_eq!(function.connect("carol-1=", &c).await.status, 200);
    assert_eq!(function.connect("carol-2=", &token(&tablet, 3600)).await.status, 200);
    assert_eq!(function.connect("carol-3=", &token(&watch, 30)).await.status, 200);
    // A reauth extends carol-3 onto the current session; refused ones say why, with the HTTP codes.
    recorder.take();
    for (access_token, code) in [
        (b.clone(), "invalid_token"),
        ("u_nobody.AAAA".to_owned(), "invalid_token"),
        (
            keys.issue_access_token(&AccessClaims {
                user: carol_id.clone(),
                session: watch.clone(),
                expires_at: now(),
            }),
            "token_expired",
        ),
    ] {
        let frames =
            says(&function, &recorder, "carol-3=", json!({ "action": "reauth", "access_token": access_token })).await;
        assert_eq!((frames.len(), frames[0]["code"].as_str()), (1, Some(code)), "{frames:?}");
        recorder.take();
    }
    let frames = says(&function, &recorder, "carol-3=", json!({ "action": "reauth", "access_token": c })).await;
    assert_eq!(frames[0]["type"], "reauthed", "{frames:?}");
    assert!(frames[0]["expires_in"].as_u64().unwrap() > 3000);
    // carol-4's token expires unextended: it gets no more pushes, and its next message (a ping
    // too) is answered `session_expired` and the connection closed (API Gateway then sends
    // `$disconnect`).
    let short = token(&tablet, 2);
    assert_eq!(function.connect("carol-4=", &short).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    recorder.take();
    function.send_direct(&a, &carol, "after expiry").await;
    let mut pushed: Vec<String> = recorder.take().into_iter().map(|p| p.connection).collect();
    pushed.sort();
    assert_eq!(pushed, ["alice-1=", "carol-1=", "carol-2=", "carol-3="], "an expired connection gets no push");
    let frames = says(&function, &recorder, "carol-4=", json!({ "action": "ping" })).await;
    assert_eq!((frames[0]["type"].as_str(), frames[0]["code"].as_str()), (Some("error"), Some("session_expired")));
    assert_eq!(recorder.deleted(), ["carol-4="], "closed after telling why");
    assert_eq!(function.event("DISCONNECT", "carol-4=", &[], None).await.status, 200);
    let frames = says(&function, &recorder, "carol-1=", json!({ "action": "ping" })).await;
    assert!(frames.is_empty(), "a live connection's ping answers nothing: {frames:?}");

    // Logging out one session closes its connections only (carol-1, and carol-3 reauthed onto
    // it); signing out everywhere closes the rest. `DeleteConnection` for each.
    assert_eq!(function.call("DELETE", "/v1/sessions/current", Some(&c), None).await.status, 204);
    let mut closed = recorder.deleted();
    closed.sort();
    assert_eq!(closed, ["carol-1=", "carol-3="], "the session {current:?}'s connections");
    for connection in closed {
        assert_eq!(function.event("DISCONNECT", &connection, &[], None).await.status, 200);
    }
    let other = token(&tablet, 3600);
    assert_eq!(function.call("DELETE", "/v1/sessions", Some(&other), None).await.status, 204);
    assert_eq!(recorder.deleted(), ["carol-2="]);
    process.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), process.wait()).await;

    // The limits, on a function that sets them (one function serves the emulator at a time).
    let mut limited = settings.clone();
    for (rule, limit) in
        [(Rule::ConnectionsPerUser, "2"), (Rule::ConnectsPerUser, "4"), (Rule::SocketMessagesPerUser, "3")]
    {
        limited.push((rule.variable().to_owned(), limit.to_owned()));
    }
    let mut process = function_command(binary, &function.api, 512, &limited).spawn().expect("start the function");
    websocket_limits(&function, &recorder, &a).await;
    process.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), process.wait()).await;
}

/// `connections_per_user` (2), `connects_per_user` (4) and `socket_messages_per_user` (3) on the
/// WebSocket API: a refused `$connect` is a 429 that records nothing, and a message past the limit
/// is answered with an `error` frame `rate_limited` and not acted on — resume and reauth loops
/// included. All within one window (the clock minute).
async fn websocket_limits(function: &Function, recorder: &PushRecorder, sender: &str) {
    let (dave, d) = function.register("dave").await;
    let into = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 60_000;
    if into > 40_000 {
        tokio::time::sleep(Duration::from_millis((60_000 - into) as u64 + 200)).await;
    }
    let refusal = |reply: WebSocketReply| {
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!((reply.status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
        body["error"]["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(function.connect("dave-1=", &d).await.status, 200);
    assert_eq!(function.connect("dave-2=", &d).await.status, 200);
    let message = refusal(function.connect("dave-3=", &d).await);
    assert!(message.contains("connections_per_user"), "{message}");
    recorder.take();
    // Nothing of it was recorded: no push reaches it, and it is unknown to its own messages.
    function.send_direct(sender, &dave, "to dave").await;
    let mut pushed: Vec<String> = recorder.take().into_iter().map(|p| p.connection).collect();
    pushed.retain(|c| c.starts_with("dave"));
    pushed.sort();
    assert_eq!(pushed, ["dave-1=", "dave-2="]);
    let frames = says(function, recorder, "dave-3=", json!({ "action": "ping" })).await;
    assert_eq!(frames[0]["code"], "unknown_connection", "{frames:?}");
    // A disconnect frees a place; the fifth connect in the minute is refused all the same.
    assert_eq!(function.event("DISCONNECT", "dave-2=", &[], None).await.status, 200);
    assert_eq!(function.connect("dave-4=", &d).await.status, 200, "the fourth connect");
    assert_eq!(function.event("DISCONNECT", "dave-4=", &[], None).await.status, 200);
    let message = refusal(function.connect("dave-5=", &d).await);
    assert!(message.contains("connects_per_user"), "{message}");

    // Each message's own frames: the recorder is emptied before each.
    let say = |action: Value| async move {
        recorder.take();
        says(function, recorder, "dave-1=", action).await
    };
    let frames = say(json!({ "action": "resume" })).await;
    assert_eq!(frames.last().unwrap()["type"], "caught_up", "{frames:?}");
    let reauth = json!({ "action": "reauth", "access_token": d });
    assert_eq!(say(reauth.clone()).await[0]["type"], "reauthed");
    assert!(say(json!({ "action": "ping" })).await.is_empty());
    for action in [json!({ "action": "resume" }), reauth.clone(), json!({ "action": "resume" })] {
        let frames = say(action).await;
        assert_eq!(frames.len(), 1, "only the refusal: {frames:?}");
        assert_eq!((frames[0]["type"].as_str(), frames[0]["code"].as_str()), (Some("error"), Some("rate_limited")));
    }
}
