//! The shared limits (`[limits]`) on the real binary over the embedded store, from real source
//! addresses: clients bound to 127.0.0.2 and 127.0.0.3 are two sources.
//!
//! Window semantics: a rule counts per clock minute; each test starts with enough of the current
//! minute left for all it counts, so every count it asserts falls in one window (at a window's
//! edge the count starts again, which these tests never straddle).

use std::ffi::OsStr;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use messaging_tests::process::Server;
use messaging_tests::stream::{Auth, Event, StreamClient};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

async fn start(data_dir: &Path, extra: &[&str]) -> Server {
    let mut args: Vec<&OsStr> = vec!["--data-dir".as_ref(), data_dir.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    Server::start(Path::new(env!("CARGO_BIN_EXE_runtime")), &args).await
}

/// A client whose connections come from `address` (any of 127.0.0.0/8).
fn client_from(address: &str) -> Client {
    Client::builder().local_address(address.parse::<IpAddr>().unwrap()).build().unwrap()
}

/// Waits, if need be, for a window with at least `needed` of it left.
async fn fresh_window(needed: Duration) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let into = Duration::from_millis((now.as_millis() % 60_000) as u64);
    if Duration::from_secs(60) - into < needed {
        tokio::time::sleep(Duration::from_secs(60) - into + Duration::from_millis(200)).await;
    }
}

async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value, Option<u64>) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    (status, response.json().await.unwrap_or(Value::Null), retry_after)
}

/// A refusal by `rule`: 429 `rate_limited`, naming the rule, with a `Retry-After` within the window.
fn assert_limited((status, body, retry_after): &(StatusCode, Value, Option<u64>), rule: &str) {
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(rule), "{body}");
    assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "Retry-After: {retry_after:?}");
}

async fn register(http: &Client, server: &Server, name: &str) -> (StatusCode, Value, Option<u64>) {
    call(http.post(server.url("/v1/users")).json(&json!({ "name": name }))).await
}

async fn user(http: &Client, server: &Server, name: &str) -> (String, String) {
    let (status, body, _) = register(http, server, name).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["id"].as_str().unwrap().to_owned(), body["access_token"].as_str().unwrap().to_owned())
}

/// Under the built-in defaults (60 a minute): one address is refused at its 61st registration,
/// and refreshes count with registrations; another address is not limited by the first's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_and_refreshes_are_limited_per_source_address() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&OsStr> = vec!["--data-dir".as_ref(), dir.path().as_os_str()];
    let server = Server::start_limited(Path::new(env!("CARGO_BIN_EXE_runtime")), &args).await;
    let (flooder, neighbour) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    fresh_window(Duration::from_secs(30)).await;
    let (status, first, _) = register(&flooder, &server, "r0").await;
    assert_eq!(status, StatusCode::CREATED);
    for i in 1..59 {
        assert_eq!(register(&flooder, &server, &format!("r{i}")).await.0, StatusCode::CREATED, "registration {i}");
    }
    let refresh = json!({ "refresh_token": first["refresh_token"] });
    let (status, body, _) = call(flooder.post(server.url("/v1/sessions/refresh")).json(&refresh)).await;
    assert_eq!(status, StatusCode::OK, "the 60th request: {body}");
    assert_limited(&register(&flooder, &server, "one too many").await, "unauthenticated_per_ip");
    let refresh = json!({ "refresh_token": body["refresh_token"] });
    assert_limited(
        &call(flooder.post(server.url("/v1/sessions/refresh")).json(&refresh)).await,
        "unauthenticated_per_ip",
    );
    assert_eq!(register(&neighbour, &server, "neighbour").await.0, StatusCode::CREATED, "another address");
    // Authenticated requests are the user's, not the address's.
    let token = first["access_token"].as_str().unwrap();
    let (status, _, _) = call(flooder.get(server.url("/v1/messages")).bearer_auth(token)).await;
    assert_eq!(status, StatusCode::OK);
}

/// `X-Forwarded-For` names the source only when a trusted proxy sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ["--limits-unauthenticated-per-ip", "2", "--trusted-proxies", "127.0.0.4"];
    let server = start(dir.path(), &limits).await;
    let (proxy, stranger) = (client_from("127.0.0.4"), client_from("127.0.0.5"));
    fresh_window(Duration::from_secs(20)).await;
    let via = |http: &Client, client: &str| {
        http.post(server.url("/v1/users")).header("x-forwarded-for", client).json(&json!({ "name": "n" }))
    };
    for _ in 0..2 {
        assert_eq!(call(via(&proxy, "203.0.113.7")).await.0, StatusCode::CREATED);
    }
    assert_limited(&call(via(&proxy, "203.0.113.7")).await, "unauthenticated_per_ip");
    assert_eq!(call(via(&proxy, "203.0.113.8")).await.0, StatusCode::CREATED, "another client of the proxy");
    // A client's own entry is left of the proxy's: it cannot pick its address.
    assert_limited(&call(via(&proxy, "198.51.100.1, 203.0.113.7")).await, "unauthenticated_per_ip");
    // From an untrusted peer the header is ignored: the peer is the source.
    for forwarded in ["203.0.113.20", "203.0.113.21"] {
        assert_eq!(call(via(&stranger, forwarded)).await.0, StatusCode::CREATED);
    }
    assert_limited(&call(via(&stranger, "203.0.113.22")).await, "unauthenticated_per_ip");
}

/// `sends_per_user` and `fanout_per_user`: the (N+1)-th send is refused for its sender only; a
/// retry of an acknowledged send is answered (not charged again); a group send counts its members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_and_their_fanout_are_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ["--limits-sends-per-user", "3", "--limits-fanout-per-user", "8", "--max-group-size", "4"];
    let server = start(dir.path(), &limits).await;
    let http = Client::new();
    let ((alice_id, alice), (bob_id, bob)) = (user(&http, &server, "alice").await, user(&http, &server, "bob").await);
    let (carol_id, carol) = user(&http, &server, "carol").await;
    fresh_window(Duration::from_secs(20)).await;
    let to_bob = server.url(&format!("/v1/users/{bob_id}/messages"));
    for i in 0..3 {
        let body = json!({ "text": format!("m{i}"), "client_id": format!("c{i}") });
        assert_eq!(call(http.post(&to_bob).bearer_auth(&alice).json(&body)).await.0, StatusCode::CREATED);
    }
    let fourth = call(http.post(&to_bob).bearer_auth(&alice).json(&json!({ "text": "m3" }))).await;
    assert_limited(&fourth, "sends_per_user");
    let (status, replayed, _) =
        call(http.post(&to_bob).bearer_auth(&alice).json(&json!({ "text": "m2", "client_id": "c2" }))).await;
    assert_eq!(status, StatusCode::OK, "a retry of an acknowledged send is answered: {replayed}");
    let (status, feed, _) = call(http.get(server.url("/v1/messages")).bearer_auth(&bob)).await;
    assert_eq!((status, feed["messages"].as_array().unwrap().len()), (StatusCode::OK, 3), "nothing refused arrived");

    // Fan-out: a group of 3 is 3 feed writes, a direct message 2.
    let (_, group, _) = call(http.post(server.url("/v1/groups")).bearer_auth(&bob).json(&json!({ "name": "g" }))).await;
    let group = group["id"].as_str().unwrap().to_owned();
    for member in [&alice_id, &carol_id] {
        let url = server.url(&format!("/v1/groups/{group}/members/{member}"));
        assert_eq!(call(http.put(url).bearer_auth(&bob)).await.0, StatusCode::NO_CONTENT);
    }
    let to_group = server.url(&format!("/v1/groups/{group}/messages"));
    for _ in 0..2 {
        assert_eq!(
            call(http.post(&to_group).bearer_auth(&bob).json(&json!({ "text": "g" }))).await.0,
            StatusCode::CREATED
        );
    }
    // 6 of 8 written: a third group send (3 more) does not fit, though a third send does — and a
    // direct message (2) does.
    assert_limited(
        &call(http.post(&to_group).bearer_auth(&bob).json(&json!({ "text": "g" }))).await,
        "fanout_per_user",
    );
    let to_carol = server.url(&format!("/v1/users/{carol_id}/messages"));
    assert_eq!(call(http.post(&to_carol).bearer_auth(&bob).json(&json!({ "text": "d" }))).await.0, StatusCode::CREATED);
    assert_eq!(
        call(http.post(&to_group).bearer_auth(&carol).json(&json!({ "text": "c" }))).await.0,
        StatusCode::CREATED,
        "another member is not limited by bob's sends"
    );
}

/// `membership_changes_per_user`: creating a group and adding or removing members count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_are_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--limits-membership-changes-per-user", "3"]).await;
    let http = Client::new();
    let (_, owner) = user(&http, &server, "owner").await;
    let (a, _) = user(&http, &server, "a").await;
    let (b, b_token) = user(&http, &server, "b").await;
    fresh_window(Duration::from_secs(20)).await;
    let (_, group, _) =
        call(http.post(server.url("/v1/groups")).bearer_auth(&owner).json(&json!({ "name": "g" }))).await;
    let group = group["id"].as_str().unwrap().to_owned();
    let member = |user: &str| server.url(&format!("/v1/groups/{group}/members/{user}"));
    assert_eq!(call(http.put(member(&a)).bearer_auth(&owner)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(http.put(member(&b)).bearer_auth(&owner)).await.0, StatusCode::NO_CONTENT);
    assert_limited(&call(http.delete(member(&a)).bearer_auth(&owner)).await, "membership_changes_per_user");
    assert_limited(
        &call(http.post(server.url("/v1/groups")).bearer_auth(&owner).json(&json!({ "name": "h" }))).await,
        "membership_changes_per_user",
    );
    assert_eq!(
        call(http.delete(member(&b)).bearer_auth(&b_token)).await.0,
        StatusCode::NO_CONTENT,
        "b leaves: b's change"
    );
}

/// Streams: `connections_per_user` open at once and `connects_per_user` a minute; a refused
/// stream is a 429 before the upgrade. `socket_messages_per_user`: past it, an `error` frame
/// `rate_limited`, and the message is not acted on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_limited_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let limits = [
        "--limits-connections-per-user",
        "2",
        "--limits-connects-per-user",
        "3",
        "--limits-socket-messages-per-user",
        "2",
    ];
    let server = start(dir.path(), &limits).await;
    let http = Client::new();
    let (_, alice) = user(&http, &server, "alice").await;
    let (_, bob) = user(&http, &server, "bob").await;
    fresh_window(Duration::from_secs(30)).await;
    let open = || StreamClient::connect(&server.base, Auth::Header(&alice), None);
    let refused = |result: Result<StreamClient, messaging_tests::stream::Error>| match result {
        Err(messaging_tests::stream::Error::Http(response)) => {
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            (response.status().as_u16(), body["error"]["message"].as_str().unwrap_or_default().to_owned())
        }
        Err(other) => panic!("refused otherwise: {other}"),
        Ok(_) => panic!("opened"),
    };
    let mut first = open().await.unwrap();
    let second = open().await.unwrap();
    let (status, message) = refused(open().await);
    assert_eq!(status, 429);
    assert!(message.contains("connections_per_user"), "{message}");
    assert!(StreamClient::connect(&server.base, Auth::Header(&bob), None).await.is_ok(), "another user");
    second.close().await;
    // The server frees the place once it has seen the close.
    let mut third = None;
    for _ in 0..50 {
        match open().await {
            Ok(stream) => {
                third = Some(stream);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let third = third.expect("a place freed when a stream closed");
    third.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, message) = refused(open().await);
    assert_eq!(status, 429);
    assert!(message.contains("connects_per_user"), "the fourth connect in the minute: {message}");

    assert!(first.until_caught_up(WAIT).await.is_some());
    first.say(r#"{"action":"ping"}"#).await;
    first.say(r#"{"action":"resume"}"#).await;
    assert!(first.until_caught_up(WAIT).await.is_some(), "the second message is acted on");
    first.say(r#"{"action":"resume"}"#).await;
    let answer = first.next(WAIT).await;
    assert_eq!(answer, Some(Event::Error { code: "rate_limited".into() }), "the third is refused");
    first.say(r#"{"action":"resume"}"#).await;
    assert_eq!(first.next(WAIT).await, Some(Event::Error { code: "rate_limited".into() }), "and not acted on");
}
