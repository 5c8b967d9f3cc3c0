//! The local server against clients that misbehave below HTTP's level: slow, idle, half-closed,
//! oversized. Raw sockets, because an HTTP client library would not send what an attacker sends.

use std::path::Path;
use std::time::{Duration, Instant};

use messaging_tests::process::Server;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed beyond a deadline for the server to notice it and close (the deadline check is
/// event-driven, so this is scheduling slack, not polling granularity).
const SLACK: Duration = Duration::from_secs(2);

async fn start(data_dir: &Path, extra: &[&str]) -> Server {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--data-dir".as_ref(), data_dir.as_os_str()];
    let secs = |d: Duration| d.as_secs().to_string();
    let timeouts = [
        "--header-read-timeout-secs".to_owned(),
        secs(HEADER_TIMEOUT),
        "--body-read-timeout-secs".to_owned(),
        secs(BODY_TIMEOUT),
        "--idle-timeout-secs".to_owned(),
        secs(IDLE_TIMEOUT),
    ];
    args.extend(timeouts.iter().map(std::ffi::OsStr::new));
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    Server::start(Path::new(env!("CARGO_BIN_EXE_runtime")), &args).await
}

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).await.expect("connect")
}

/// Everything the server sends until it closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    });
    read.await.ok().map(|()| String::from_utf8_lossy(&received).into_owned())
}

fn status_of(response: &str) -> Option<u16> {
    response.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn json_of(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn request(method: &str, path: &str, headers: &str, body: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Slow {
    /// Connects and sends nothing.
    Silent,
    /// Stops in the middle of its headers.
    PartialHeaders,
    /// Sends complete headers, then a body shorter than its Content-Length.
    PartialBody,
    /// Makes one request, reads the answer, and keeps the connection open.
    IdleKeepAlive,
}

impl Slow {
    const ALL: [Slow; 4] = [Slow::Silent, Slow::PartialHeaders, Slow::PartialBody, Slow::IdleKeepAlive];

    /// Opens the connection and leaves it in its slow state.
    async fn open(self, server: &Server) -> TcpStream {
        let mut stream = connect(server).await;
        match self {
            Slow::Silent => {}
            Slow::PartialHeaders => {
                stream.write_all(b"POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty").await.unwrap()
            }
            Slow::PartialBody => {
                let head = "POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"name\":";
                stream.write_all(head.as_bytes()).await.unwrap();
            }
            Slow::IdleKeepAlive => {
                stream.write_all(request("GET", "/health", "", "").as_bytes()).await.unwrap();
                let mut buffer = [0u8; 1024];
                let n = stream.read(&mut buffer).await.unwrap();
                assert!(buffer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buffer[..n]));
            }
        }
        stream
    }

    /// When the server must have closed it, counted from when it reached its slow state.
    fn allowed(self) -> Duration {
        match self {
            Slow::Silent | Slow::PartialHeaders => HEADER_TIMEOUT,
            Slow::PartialBody => BODY_TIMEOUT,
            Slow::IdleKeepAlive => IDLE_TIMEOUT,
        }
    }
}

/// Hundreds of slow connections do not slow anyone else down, and each is closed within its
/// timeout (a slow body with a 408 and a JSON error first).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_connections_are_closed_in_time_and_do_not_lock_anyone_out() {
    const PER_KIND: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let http = reqwest::Client::new();
    let (_, token) = server.register(&http, "patient").await;

    let mut slow = Vec::new();
    for kind in Slow::ALL {
        for _ in 0..PER_KIND {
            slow.push((kind, kind.open(&server).await, Instant::now()));
        }
    }
    let held = slow.len();

    // Well-behaved clients, each on a fresh connection, while the slow ones are held.
    let mut latencies = Vec::new();
    let probing = Instant::now();
    while probing.elapsed() < HEADER_TIMEOUT {
        for path in ["/health", "/v1/messages"] {
            let fresh = reqwest::Client::new();
            let started = Instant::now();
            let response = fresh.get(server.url(path)).bearer_auth(&token).send().await.expect("served");
            assert_eq!(response.status(), 200, "{path}");
            latencies.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut closed_after = Vec::new();
    for (kind, mut stream, since) in slow {
        let limit = kind.allowed() + SLACK;
        let response = read_until_closed(&mut stream, limit.saturating_sub(since.elapsed()))
            .await
            .unwrap_or_else(|| panic!("a {kind:?} connection was still open {limit:?} after it went slow"));
        closed_after.push((kind, since.elapsed()));
        match kind {
            Slow::PartialBody => {
                assert_eq!(status_of(&response), Some(408), "{response}");
                assert_eq!(json_of(&response)["error"]["code"], "body_timeout", "{response}");
            }
            Slow::Silent | Slow::PartialHeaders | Slow::IdleKeepAlive => assert_eq!(response, "", "{kind:?}"),
        }
    }

    latencies.sort();
    let worst = *latencies.last().unwrap();
    eprintln!(
        "held {held} slow connections; {} requests meanwhile: median {:?}, worst {worst:?}",
        latencies.len(),
        latencies[latencies.len() / 2]
    );
    for kind in Slow::ALL {
        let slowest = closed_after.iter().filter(|(k, _)| *k == kind).map(|(_, t)| *t).max().unwrap();
        eprintln!("{kind:?}: closed after at most {slowest:?} (timeout {:?})", kind.allowed());
    }
    // Far below every timeout: nobody waited for a slow connection to be closed.
    assert!(worst < HEADER_TIMEOUT / 2, "a request took {worst:?} while slow connections were held");
    server.kill_hard().await;
}

/// A client that sends a whole request and then shuts down its write side still gets its
/// answer, and the request is carried out.
#[tokio::test]
async fn a_half_closed_request_is_answered_and_executed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let mut stream = connect(&server).await;
    stream.write_all(request("POST", "/v1/users", "", r#"{"name":"half"}"#).as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let response = read_until_closed(&mut stream, Duration::from_secs(10)).await.expect("closed after answering");
    assert_eq!(status_of(&response), Some(201), "{response}");
    let user = json_of(&response);

    let id = user["id"].as_str().unwrap();
    let profile = reqwest::Client::new()
        .get(server.url(&format!("/v1/users/{id}")))
        .bearer_auth(user["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 200, "the half-closed request really registered the user");
    server.kill_hard().await;
}

/// A declared length over the limit is refused at once, without waiting for the body.
#[tokio::test]
async fn an_oversized_declared_body_is_refused_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let mut stream = connect(&server).await;
    let head = "POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let response = read_until_closed(&mut stream, Duration::from_secs(1)).await.expect("answered without the body");
    assert_eq!(status_of(&response), Some(413), "{response}");
    assert_eq!(json_of(&response)["error"]["code"], "payload_too_large");
    assert!(started.elapsed() < BODY_TIMEOUT);
    server.kill_hard().await;
}

/// A body cut short by the client is reported as such, not as malformed JSON.
#[tokio::test]
async fn a_body_that_ends_early_has_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]).await;
    let mut stream = connect(&server).await;
    let head = "POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"name\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let response = read_until_closed(&mut stream, Duration::from_secs(5)).await.expect("answered");
    assert_eq!(status_of(&response), Some(400), "{response}");
    assert_eq!(json_of(&response)["error"]["code"], "incomplete_body", "{response}");
    server.kill_hard().await;
}

/// Past the connection cap, new clients wait instead of failing, and are served as soon as slow
/// connections time out; the soft open-file limit was raised to the hard one.
#[tokio::test]
async fn the_connection_cap_queues_clients_instead_of_failing_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--max-connections", "10"]).await;
    let mut hogs = Vec::new();
    for _ in 0..10 {
        hogs.push(Slow::Silent.open(&server).await);
    }
    let started = Instant::now();
    let response = reqwest::Client::new().get(server.url("/health")).send().await.expect("served once a slot freed");
    assert_eq!(response.status(), 200);
    let waited = started.elapsed();
    // The hogs were opened within milliseconds: the first slot frees at their header timeout.
    assert!(waited >= HEADER_TIMEOUT - Duration::from_millis(500), "served before any slot could free: {waited:?}");
    assert!(waited <= HEADER_TIMEOUT + SLACK, "waited {waited:?}");

    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id().unwrap())).unwrap();
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let numbers: Vec<&str> = open_files.split_whitespace().filter(|w| w.chars().all(|c| c.is_ascii_digit())).collect();
    assert_eq!(numbers[0], numbers[1], "soft limit raised to the hard one: {open_files}");
    drop(hogs);
    server.kill_hard().await;
}

/// A client that asks for answers and never reads them holds its connection (and the answers'
/// memory) only for the idle deadline: an answer handed to the socket ends its request, so a
/// connection whose client takes nothing more is idle, and closes; the slot it held serves
/// someone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_never_read_does_not_hold_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--max-connections", "1"]).await;
    let http = reqwest::Client::new();
    let (id, token) = server.register(&http, "hoarder").await;
    // Thirty notes to self of the longest text: a poll of them is about 500 KB.
    let text = "😀".repeat(4000);
    for _ in 0..30 {
        let sent = http
            .post(server.url(&format!("/v1/users/{id}/messages")))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 201);
    }
    // Forty polls pipelined on one connection, and not a byte read: ~20 MB no socket buffer holds.
    let mut hog = connect(&server).await;
    let request = format!("GET /v1/messages?limit=500 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n");
    hog.write_all(request.repeat(40).as_bytes()).await.unwrap();
    let mut first = [0u8; 15];
    hog.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK", "the first answer is on its way");

    let started = Instant::now();
    let health = http.get(server.url("/health")).timeout(IDLE_TIMEOUT * 5).send().await;
    let waited = started.elapsed();
    assert_eq!(health.expect("served once the stuck connection closed").status(), 200);
    assert!(waited <= IDLE_TIMEOUT + SLACK, "the only slot was held {waited:?}");
    drop(hog);
    server.kill_hard().await;
}
