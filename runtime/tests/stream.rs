//! `GET /v1/stream` on the real binary over the embedded store: every stream sees exactly its
//! feed, in order, across reconnects at random moments and polls mixed in; a stream that falls
//! behind is closed and catches up on reconnect; shutdown closes streams with "going away".

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use messaging_tests::process::Server;
use messaging_tests::stream::{Auth, Event, StreamClient};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(20);

async fn start(data_dir: &Path, extra: &[&str]) -> Server {
    let mut args: Vec<&OsStr> = vec!["--data-dir".as_ref(), data_dir.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    Server::start(Path::new(env!("CARGO_BIN_EXE_runtime")), &args).await
}

/// A response's JSON body.
async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

async fn send(http: &Client, url: String, token: &str, text: &str) -> Value {
    let response = http.post(url).bearer_auth(token).json(&json!({ "text": text })).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    json_of(response).await
}

/// One poll page: message ids and the next cursor.
async fn poll(http: &Client, server: &Server, token: &str, after: Option<&str>) -> (Vec<String>, String, bool) {
    let query = after.map_or("?limit=50".to_owned(), |a| format!("?limit=50&after={a}"));
    let page =
        json_of(http.get(server.url(&format!("/v1/messages{query}"))).bearer_auth(token).send().await.unwrap()).await;
    let ids = page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    (ids, page["next"].as_str().unwrap().to_owned(), page["has_more"] == true)
}

/// The whole feed, by polling: the truth a stream is compared with.
async fn whole_feed(http: &Client, server: &Server, token: &str) -> Vec<String> {
    let (mut all, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let (ids, next, more) = poll(http, server, token, cursor.as_deref()).await;
        all.extend(ids);
        cursor = Some(next);
        if !more {
            return all;
        }
    }
}

/// xorshift: reproducible "random moments" without a dependency.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_stream_sees_exactly_its_feed_in_order_across_reconnects_and_polls() {
    const USERS: usize = 48;
    const MEMBERS: usize = 10;
    const SENDERS: usize = 24;
    const SENDS_EACH: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(start(dir.path(), &[]).await);
    let http = Client::new();
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(server.register(&http, &format!("u{i}")).await);
    }
    let created = http.post(server.url("/v1/groups")).bearer_auth(&users[0].1).json(&json!({"name": "g"})).send().await;
    let group = json_of(created.unwrap()).await;
    let group = group["id"].as_str().unwrap().to_owned();
    for (member, _) in &users[1..MEMBERS] {
        let url = server.url(&format!("/v1/groups/{group}/members/{member}"));
        assert!(http.put(url).bearer_auth(&users[0].1).send().await.unwrap().status().is_success());
    }
    let users = Arc::new(users);

    // Each reader streams, drops its connection at a random moment, sometimes polls a page with
    // the cursor it holds, and streams on from wherever it got to, until it has `expected`.
    let (expected_tx, expected) = watch::channel(None::<Arc<Vec<Vec<String>>>>);
    let readers: Vec<_> = (0..USERS)
        .map(|u| {
            let (server, users, mut expected) = (server.clone(), users.clone(), expected.clone());
            tokio::spawn(async move {
                let http = Client::new();
                let token = users[u].1.clone();
                let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (u as u64 + 1));
                let (mut seen, mut cursor, mut reconnects) = (Vec::<String>::new(), None::<String>, 0);
                loop {
                    let target = expected.borrow().as_ref().map(|all| all[u].len());
                    if target.is_some_and(|n| seen.len() >= n) {
                        return (seen, reconnects);
                    }
                    if dice.roll(4) == 0 {
                        let (ids, next, _) = poll(&http, &server, &token, cursor.as_deref()).await;
                        seen.extend(ids);
                        cursor = Some(next);
                        continue;
                    }
                    let auth = if u % 2 == 0 { Auth::Header(&token) } else { Auth::Subprotocol(&token) };
                    let mut stream = StreamClient::connect(&server.base, auth, cursor.as_deref()).await.unwrap();
                    reconnects += 1;
                    let mut budget = 1 + dice.roll(12);
                    loop {
                        let event = tokio::select! {
                            event = stream.next(WAIT) => event.expect("the stream went quiet"),
                            // Woken when the senders are done, to check the target.
                            _ = expected.changed() => break,
                        };
                        match event {
                            Event::Message { id, cursor: next, .. } => {
                                seen.push(id);
                                cursor = Some(next);
                                budget -= 1;
                            }
                            Event::CaughtUp { cursor: next } => cursor = Some(next),
                            Event::Ping => {}
                            other @ (Event::Reauthed { .. } | Event::Error { .. }) => {
                                panic!("nothing was asked of the server: {other:?}")
                            }
                            Event::Closed(code) => panic!("the server closed a stream: {code:?}"),
                        }
                        let target = expected.borrow().as_ref().map(|all| all[u].len());
                        if budget == 0 || target.is_some_and(|n| seen.len() >= n) {
                            break;
                        }
                    }
                    if dice.roll(2) == 0 {
                        stream.close().await;
                    } // else dropped without a close frame, like a client that lost its network
                }
            })
        })
        .collect();

    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (server, users, group) = (server.clone(), users.clone(), group.clone());
            tokio::spawn(async move {
                let http = Client::new();
                let from = s % USERS;
                for i in 0..SENDS_EACH {
                    // The member whose membership flips does not send to the group.
                    let url = if from < MEMBERS - 1 && i % 4 == 0 {
                        server.url(&format!("/v1/groups/{group}/messages"))
                    } else {
                        let to = (from + 1 + i % (USERS - 1)) % USERS;
                        server.url(&format!("/v1/users/{}/messages", users[to].0))
                    };
                    send(&http, url, &users[from].1, &format!("{s}-{i}")).await;
                    if i % 10 == 9 && from == 0 {
                        // Membership changes do not close streams: the member's stream goes on.
                        let member = &users[MEMBERS - 1].0;
                        let url = server.url(&format!("/v1/groups/{group}/members/{member}"));
                        assert!(http.delete(&url).bearer_auth(&users[0].1).send().await.unwrap().status().is_success());
                        assert!(http.put(&url).bearer_auth(&users[0].1).send().await.unwrap().status().is_success());
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let mut truth = Vec::new();
    for (_, token) in users.iter() {
        truth.push(whole_feed(&http, &server, token).await);
    }
    let truth = Arc::new(truth);
    expected_tx.send(Some(truth.clone())).unwrap();
    let mut total_reconnects = 0;
    for (u, reader) in readers.into_iter().enumerate() {
        let (seen, reconnects) = tokio::time::timeout(Duration::from_secs(60), reader).await.unwrap().unwrap();
        assert_eq!(seen, truth[u], "user {u}: what the streams and polls gave, against the feed");
        assert!(reconnects >= 2, "user {u} reconnected {reconnects} times");
        total_reconnects += reconnects;
    }
    eprintln!(
        "{} messages in {USERS} feeds, read over {total_reconnects} stream connections with polls between",
        truth.iter().map(Vec::len).sum::<usize>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_that_falls_behind_is_closed_and_a_reconnect_catches_up() {
    const SENDS: usize = 1600;
    let dir = tempfile::tempdir().unwrap();
    let settings = ["--stream-buffer", "8", "--stream-write-timeout-secs", "120", "--rate-limit-per-second", "0"];
    let server = Arc::new(start(dir.path(), &settings).await);
    let http = Client::new();
    let (alice, bob) = (server.register(&http, "alice").await, server.register(&http, "bob").await);
    let mut stream = StreamClient::connect(&server.base, Auth::Header(&bob.1), None).await.unwrap();
    let (backlog, _) = stream.until_caught_up(WAIT).await.unwrap();
    assert!(backlog.is_empty());

    // Bob stops reading while 1,600 messages of 4,000 characters (6.4 MB) arrive: more than the
    // sockets hold and the server's buffer of 8.
    let text = "x".repeat(4000);
    let url = server.url(&format!("/v1/users/{}/messages", bob.0));
    let sends: Vec<_> = (0..8)
        .map(|_| {
            let (http, url, token, text) = (http.clone(), url.clone(), alice.1.clone(), text.clone());
            tokio::spawn(async move {
                for _ in 0..SENDS / 8 {
                    send(&http, url.clone(), &token, &text).await;
                }
            })
        })
        .collect();
    for sending in sends {
        sending.await.unwrap();
    }

    let (mut seen, mut cursor) = (Vec::new(), None);
    let closed = loop {
        match stream.next(WAIT).await.expect("frames, then a close") {
            Event::Message { id, cursor: next, .. } => {
                seen.push(id);
                cursor = Some(next);
            }
            Event::Closed(code) => break code,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(closed, Some(4000), "closed as fallen behind");
    assert!(seen.len() < SENDS, "closed before everything was sent: {} of {SENDS}", seen.len());

    let mut again = StreamClient::connect(&server.base, Auth::Header(&bob.1), cursor.as_deref()).await.unwrap();
    let (rest, _) = again.until_caught_up(WAIT).await.expect("the reconnect catches up");
    seen.extend(rest.into_iter().map(|(id, _)| id));
    assert_eq!(seen, whole_feed(&http, &server, &bob.1).await, "nothing lost, nothing twice, in order");
    assert_eq!(seen.len(), SENDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_stream_checks_the_token_the_cursor_and_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let http = Client::new();
    let (alice, bob) = (server.register(&http, "alice").await, server.register(&http, "bob").await);
    let bobs_cursor = poll(&http, &server, &bob.1, None).await.1;

    let refused = |result: Result<StreamClient, _>| match result {
        Err(messaging_tests::stream::Error::Http(response)) => {
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            (response.status().as_u16(), body["error"]["code"].as_str().unwrap().to_owned())
        }
        Err(other) => panic!("not an HTTP refusal: {other}"),
        Ok(_) => panic!("the stream opened"),
    };
    let url = |query: &str| server.url(&format!("/v1/stream{query}"));
    let cases = [
        (StreamClient::connect(&server.base, Auth::Header("nope"), None).await, 401, "invalid_token"),
        (StreamClient::connect(&server.base, Auth::Subprotocol("nope"), None).await, 401, "invalid_token"),
        (StreamClient::connect(&server.base, Auth::Header(&alice.1), Some("garbage")).await, 400, "invalid_cursor"),
        (StreamClient::connect(&server.base, Auth::Header(&alice.1), Some(&bobs_cursor)).await, 400, "invalid_cursor"),
    ];
    for (result, status, code) in cases {
        assert_eq!(refused(result), (status, code.to_owned()));
    }
    let plain = http.get(url("")).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(plain.json::<Value>().await.unwrap()["error"]["code"], "missing_token");
    let plain = http.get(url("")).bearer_auth(&alice.1).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(plain.headers()["upgrade"], "websocket");
    assert_eq!(plain.json::<Value>().await.unwrap()["error"]["code"], "websocket_required");

    // A browser offers the token as a subprotocol; the server answers with its own protocol,
    // never echoing the token back.
    let sent = send(&http, server.url(&format!("/v1/users/{}/messages", bob.0)), &alice.1, "hi").await;
    let mut browser = StreamClient::connect(&server.base, Auth::Subprotocol(&alice.1), None).await.unwrap();
    assert_eq!(browser.protocol.as_deref(), Some("messaging.v1"));
    let (messages, _) = browser.until_caught_up(WAIT).await.unwrap();
    let ids: Vec<&str> = messages.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, [sent["id"].as_str().unwrap()]);
    // What a client says that is not a client message gets an error frame; the stream stays open.
    browser.say("hello?").await;
    assert_eq!(browser.next(WAIT).await, Some(Event::Error { code: "invalid_message".into() }));
    browser.say(r#"{"action":"ping"}"#).await;
    send(&http, server.url(&format!("/v1/users/{}/messages", bob.0)), &alice.1, "again").await;
    assert!(matches!(browser.next(WAIT).await, Some(Event::Message { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_pinged_and_closed_going_away_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &["--stream-ping-secs", "1"]).await;
    let http = Client::new();
    let alice = server.register(&http, "alice").await;
    let mut stream = StreamClient::connect(&server.base, Auth::Header(&alice.1), None).await.unwrap();
    stream.until_caught_up(WAIT).await.unwrap();
    assert_eq!(stream.next(Duration::from_secs(3)).await, Some(Event::Ping));
    // Answered by the client library: the stream stays open through several intervals.
    for _ in 0..3 {
        assert_eq!(stream.next(Duration::from_secs(3)).await, Some(Event::Ping));
    }

    let pid = server.child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let closed = loop {
        match stream.next(WAIT).await.expect("a close frame") {
            Event::Ping => {}
            Event::Closed(code) => break code,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(closed, Some(1001), "going away");
    let status = tokio::time::timeout(WAIT, server.child.wait()).await.expect("the server stops").unwrap();
    assert!(status.success(), "{status}");
}

/// A fresh session of a new user: its id, access token and refresh token.
async fn session(http: &Client, server: &Server, name: &str) -> (String, String, String) {
    let reply = http.post(server.url("/v1/users")).json(&json!({ "name": name })).send().await.unwrap();
    let body = json_of(reply).await;
    let field = |key: &str| body[key].as_str().unwrap().to_owned();
    (field("id"), field("access_token"), field("refresh_token"))
}

async fn refreshed(http: &Client, server: &Server, refresh_token: &str) -> (String, String) {
    let reply = http.post(server.url("/v1/sessions/refresh")).json(&json!({ "refresh_token": refresh_token }));
    let body = json_of(reply.send().await.unwrap()).await;
    (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
}

/// A stream outlives its access token by `reauth`, is closed with 4003 when its token expires
/// unextended, and with 4004 as soon as its session is signed out or its user erased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_outlive_tokens_by_reauth_and_close_when_signed_out() {
    let dir = tempfile::tempdir().unwrap();
    // Tokens expire in whole seconds: four, so that the waits below leave most of a second
    // between the first token's expiry and the second's.
    let server = start(dir.path(), &["--access-token-ttl-secs", "4"]).await;
    let http = Client::new();
    let (alice, access, refresh) = session(&http, &server, "alice").await;
    let (_, bobs_access, _) = session(&http, &server, "bob").await;
    let mut stream = StreamClient::connect(&server.base, Auth::Header(&access), None).await.unwrap();
    stream.until_caught_up(WAIT).await.unwrap();

    for (token, code) in [(bobs_access.as_str(), "invalid_token"), ("nope", "invalid_token")] {
        stream.say(&json!({ "action": "reauth", "access_token": token }).to_string()).await;
        assert_eq!(stream.next(WAIT).await, Some(Event::Error { code: code.into() }));
    }
    // Issued at least two whole seconds after the first: it expires at least two seconds later.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let (access, refresh) = refreshed(&http, &server, &refresh).await;
    stream.say(&json!({ "action": "reauth", "access_token": access }).to_string()).await;
    assert!(matches!(stream.next(WAIT).await, Some(Event::Reauthed { expires_in: 3..=4 })));
    // Past the first token's expiry (at most four seconds after it was issued), the stream
    // still delivers.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    send(&http, server.url(&format!("/v1/users/{alice}/messages")), &access, "still here").await;
    assert!(matches!(stream.next(WAIT).await, Some(Event::Message { .. })));
    // Left to expire: closed, 4003.
    let closed = loop {
        match stream.next(WAIT).await {
            Some(Event::Ping | Event::Message { .. }) => continue,
            other => break other,
        }
    };
    assert_eq!(closed, Some(Event::Closed(Some(4003))));

    // Signed out: closed at once, 4004; another user's stream stays open.
    let (access, _) = refreshed(&http, &server, &refresh).await;
    let mut stream = StreamClient::connect(&server.base, Auth::Header(&access), None).await.unwrap();
    stream.until_caught_up(WAIT).await.unwrap();
    let (_, carols_access, _) = session(&http, &server, "carol").await;
    let mut carols = StreamClient::connect(&server.base, Auth::Header(&carols_access), None).await.unwrap();
    carols.until_caught_up(WAIT).await.unwrap();
    let signed_out = http.delete(server.url("/v1/sessions/current")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);
    assert_eq!(stream.next(WAIT).await, Some(Event::Closed(Some(4004))));
    send(&http, server.url(&format!("/v1/users/{alice}/messages")), &carols_access, "carol's stream is open").await;
    let mut carol_got = Vec::new();
    while let Some(event) = carols.next(Duration::from_secs(1)).await {
        carol_got.push(event);
    }
    assert!(carol_got.iter().any(|e| matches!(e, Event::Message { .. })), "{carol_got:?}");

    // Erased through the server API: closed at once, 4004.
    let ring = std::fs::read_to_string(dir.path().join(runtime::wiring::KEY_RING_FILE)).unwrap();
    let server_key = contract::key_ring::KeyRing::parse(&ring).unwrap().server_key.as_str().to_owned();
    let admin = |method: reqwest::Method, path: &str| http.request(method, server.url(path)).bearer_auth(&server_key);
    let made = admin(reqwest::Method::PUT, "/v1/admin/users/dave").json(&json!({ "name": "dave" })).send().await;
    assert_eq!(made.unwrap().status(), StatusCode::OK);
    let daves = json_of(admin(reqwest::Method::POST, "/v1/admin/users/dave/sessions").send().await.unwrap()).await;
    let daves_access = daves["access_token"].as_str().unwrap();
    let mut stream = StreamClient::connect(&server.base, Auth::Header(daves_access), None).await.unwrap();
    stream.until_caught_up(WAIT).await.unwrap();
    let erased = admin(reqwest::Method::DELETE, "/v1/admin/users/dave").send().await.unwrap();
    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    assert_eq!(stream.next(WAIT).await, Some(Event::Closed(Some(4004))));
}
