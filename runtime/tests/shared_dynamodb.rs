//! Two runtime processes sharing one DynamoDB (the emulator, behind the chaos layer injecting
//! DynamoDB's conflicts, throttling, 500s, lost answers and late-visible items): concurrent
//! senders and pollers, each alternating between the processes and retrying 503s as clients do,
//! lose nothing and see nothing twice.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use messaging_tests::backend::{chaos_emulator_endpoint, fresh_tables};
use messaging_tests::chaos::{Chaos, Effect, Rule};
use messaging_tests::delivery::assert_exactly_once_in_order;
use messaging_tests::process::Server;
use reqwest::{Client, StatusCode};
use runtime::domain::Keys;
use serde_json::{Value, json};

const USERS: usize = 6;
const GROUP: usize = 4;
const SENDERS: usize = 12;
const SENDS_EACH: usize = 20;

async fn post(http: &Client, url: String, token: &str, body: Value) -> (StatusCode, Value) {
    let response = http.post(url).bearer_auth(token).json(&body).send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Two runtime processes on fresh tables of the emulator at `emulator`, reaching it through
/// `endpoint` (the emulator itself or a chaos layer in front of it), with `extra` flags.
async fn two_servers(emulator: &str, endpoint: &str, extra: &[&str]) -> ([Server; 2], tempfile::TempDir) {
    let tables = fresh_tables();
    let dir = tempfile::tempdir().unwrap();
    let key = Keys::generate().to_hex();
    // The emulator serves this test alone, but slower than DynamoDB; a lost answer costs an
    // attempt timeout, a sixth of the budget.
    let budget = "30";
    let settings = [
        "--store",
        "dynamodb",
        "--dynamodb-endpoint",
        endpoint,
        "--entities-table",
        &tables.entities_table,
        "--feeds-table",
        &tables.feeds_table,
        "--token-key",
        &key,
        "--dynamodb-budget-secs",
        budget,
    ];
    let mut args: Vec<&OsStr> = settings.iter().chain(extra).map(OsStr::new).collect();
    args.extend([OsStr::new("--data-dir"), dir.path().as_os_str()]);
    let binary = Path::new(env!("CARGO_BIN_EXE_runtime"));
    let mut create: Vec<&OsStr> = args.clone();
    create[3] = OsStr::new(emulator);
    let created = tokio::process::Command::new(binary).arg("create-tables").args(&create).status().await.unwrap();
    assert!(created.success(), "runtime create-tables: {created}");
    ([Server::start(binary, &args).await, Server::start(binary, &args).await], dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_dynamodb_lose_and_repeat_nothing() {
    let Some(emulator) = chaos_emulator_endpoint() else { return };
    let chaos = Chaos::start(&emulator, 7).await;
    let (servers, _dir) = two_servers(&emulator, &chaos.url, &[]).await;
    chaos.add(Rule::sometimes(Some("TransactWriteItems"), 0.2, Effect::CancelTransaction("TransactionConflict")));
    chaos.add(Rule::sometimes(Some("TransactWriteItems"), 0.005, Effect::AppliedButLost));
    chaos.add(Rule::sometimes(Some("PutItem"), 0.2, Effect::WriteConflict));
    chaos.add(Rule::sometimes(Some("Query"), 0.3, Effect::HideQueryItem));
    chaos.add(Rule::sometimes(None, 0.03, Effect::Throttle));
    chaos.add(Rule::sometimes(None, 0.02, Effect::ServerError));
    let bases: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.base.clone()).collect());
    let http = Client::new();

    let mut users = Vec::new();
    for i in 0..USERS {
        let url = format!("{}/v1/users", bases[i % 2]);
        let reply: Value =
            http.post(url).json(&json!({"name": format!("u{i}")})).send().await.unwrap().json().await.unwrap();
        users.push((reply["id"].as_str().unwrap().to_owned(), reply["token"].as_str().unwrap().to_owned()));
    }
    let (status, group) = post(&http, format!("{}/v1/groups", bases[0]), &users[0].1, json!({"name": "g"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let group = group["id"].as_str().unwrap().to_owned();
    for (i, (member, _)) in users.iter().enumerate().take(GROUP).skip(1) {
        let url = format!("{}/v1/groups/{group}/members/{member}", bases[i % 2]);
        let status = http.put(url).bearer_auth(&users[0].1).send().await.unwrap().status();
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let users = Arc::new(users);
    let done = Arc::new(AtomicBool::new(false));

    let pollers: Vec<_> = (0..USERS)
        .map(|u| {
            let (http, bases, users, done) = (http.clone(), bases.clone(), users.clone(), done.clone());
            tokio::spawn(async move {
                let (mut seen, mut after, mut turn) = (Vec::new(), None::<String>, 0);
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let query = after.as_ref().map_or("limit=7".to_owned(), |a| format!("limit=7&after={a}"));
                    let url = format!("{}/v1/messages?{query}", bases[turn % 2]);
                    turn += 1;
                    let response = http.get(url).bearer_auth(&users[u].1).send().await.unwrap();
                    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                        continue; // the store gave up within its budget: poll again
                    }
                    let page: Value = response.json().await.unwrap();
                    for message in page["messages"].as_array().expect("a feed page") {
                        seen.push(message["id"].as_str().unwrap().to_owned());
                    }
                    after = Some(page["next"].as_str().unwrap().to_owned());
                    if finished && page["has_more"] == false {
                        return seen;
                    }
                }
            })
        })
        .collect();

    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (http, bases, users, group) = (http.clone(), bases.clone(), users.clone(), group.clone());
            tokio::spawn(async move {
                let from = s % USERS;
                let mut sent = Vec::new();
                for i in 0..SENDS_EACH {
                    let to_group = from < GROUP && i % 3 == 0;
                    let to = (from + 1 + i % (USERS - 1)) % USERS;
                    let path = if to_group {
                        format!("/v1/groups/{group}/messages")
                    } else {
                        format!("/v1/users/{}/messages", users[to].0)
                    };
                    // A 503 is retried with the same client_id, on either process, as a client would.
                    let body = json!({"text": format!("{s}-{i}"), "client_id": format!("{s}-{i}")});
                    let mut attempt = 0;
                    let message = loop {
                        let url = format!("{}{path}", bases[(s + i + attempt) % 2]);
                        let (status, message) = post(&http, url, &users[from].1, body.clone()).await;
                        match status {
                            StatusCode::CREATED | StatusCode::OK => break message,
                            StatusCode::SERVICE_UNAVAILABLE if attempt < 20 => attempt += 1,
                            other => panic!("{other}: {message}"),
                        }
                    };
                    let feeds: Vec<usize> = if to_group { (0..GROUP).collect() } else { vec![from, to] };
                    sent.push((message["id"].as_str().unwrap().to_owned(), feeds));
                }
                sent
            })
        })
        .collect();

    let mut expected: HashMap<usize, HashSet<String>> = HashMap::new();
    let mut sent_in_order = Vec::new();
    for sender in senders {
        let sent = sender.await.unwrap();
        for (id, feeds) in &sent {
            for &feed in feeds {
                expected.entry(feed).or_default().insert(id.clone());
            }
        }
        sent_in_order.push(sent.into_iter().map(|(id, _)| id).collect::<Vec<_>>());
    }
    // The end state is read without faults: a request the store gave up on may still be queued at
    // the emulator, and an item hidden then would end a poller's walk early (`Backend::settle`).
    chaos.calm();
    done.store(true, Ordering::SeqCst);

    for (u, poller) in pollers.into_iter().enumerate() {
        let seen = poller.await.unwrap();
        let expected = expected.get(&u).cloned().unwrap_or_default();
        assert_exactly_once_in_order(&format!("user {u}"), &seen, &expected, &sent_in_order);
    }
    let injected = chaos.injected();
    eprintln!("through the chaos layer: {injected:?}");
    for effect in
        ["CancelTransaction(\"TransactionConflict\")", "WriteConflict", "HideQueryItem", "Throttle", "ServerError"]
    {
        assert!(injected.get(effect).is_some_and(|&n| n > 0), "{effect} was never injected: {injected:?}");
    }
    for server in servers {
        server.kill_hard().await;
    }
}

/// Of one user's 2N sends, alternating between two processes on one DynamoDB within one window,
/// exactly N are acknowledged and delivered, the rest refused 429: the processes count in one
/// place. The same for registrations from one address, while another address is not limited,
/// and for one user's membership changes.
/// On the emulator directly, then through the chaos layer (where a 503 is retried with the same
/// `client_id`, as a client does: a retry of a send that committed is answered, not counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_limit_holds_across_two_processes() {
    let Some(emulator) = chaos_emulator_endpoint() else { return };
    const N: usize = 4;
    let limits = [
        "--limits-sends-per-user",
        "4",
        "--limits-unauthenticated-per-ip",
        "6",
        "--limits-membership-changes-per-user",
        "3",
    ];
    for through_chaos in [false, true] {
        let chaos = Chaos::start(&emulator, 11).await;
        let endpoint = if through_chaos { chaos.url.clone() } else { emulator.clone() };
        let (servers, _dir) = two_servers(&emulator, &endpoint, &limits).await;
        if through_chaos {
            chaos.add(Rule::sometimes(
                Some("TransactWriteItems"),
                0.2,
                Effect::CancelTransaction("TransactionConflict"),
            ));
            chaos.add(Rule::sometimes(Some("UpdateItem"), 0.2, Effect::WriteConflict));
            chaos.add(Rule::sometimes(None, 0.05, Effect::Throttle));
            chaos.add(Rule::sometimes(None, 0.05, Effect::ServerError));
        }
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        wait_for_a_fresh_window().await;
        let (flooder, neighbour) = (from("127.0.0.2"), from("127.0.0.3"));
        let mut users = Vec::new();
        let mut refused = 0;
        for i in 0..12 {
            match register(&flooder, &bases[i % 2], &format!("u{i}")).await {
                Some(user) => users.push(user),
                None => refused += 1,
            }
        }
        assert_eq!((users.len(), refused), (6, 6), "registrations from one address, through both processes");
        assert!(register(&neighbour, &bases[1], "n").await.is_some(), "another address");

        let (sender, recipient) = (&users[0], &users[1]);
        let (mut acknowledged, mut limited) = (HashSet::new(), 0);
        for i in 0..2 * N {
            let body = json!({"text": format!("m{i}"), "client_id": format!("m{i}")});
            let mut attempt = 0;
            loop {
                let url = format!("{}/v1/users/{}/messages", bases[(i + attempt) % 2], recipient.0);
                let (status, message) = post(&flooder, url, &sender.1, body.clone()).await;
                match status {
                    StatusCode::CREATED | StatusCode::OK => {
                        acknowledged.insert(message["id"].as_str().unwrap().to_owned());
                    }
                    StatusCode::TOO_MANY_REQUESTS => {
                        assert_eq!(message["error"]["code"], "rate_limited");
                        limited += 1;
                    }
                    StatusCode::SERVICE_UNAVAILABLE if attempt < 20 => {
                        attempt += 1;
                        continue;
                    }
                    other => panic!("{other}: {message}"),
                }
                break;
            }
        }
        assert_eq!((acknowledged.len(), limited), (N, N), "through the chaos layer: {through_chaos}");
        chaos.calm();
        let page: Value = flooder
            .get(format!("{}/v1/messages?limit=100", bases[0]))
            .bearer_auth(&recipient.1)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let delivered: HashSet<String> =
            page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(delivered, acknowledged, "exactly the acknowledged sends were delivered");

        // Membership changes, alternating too: a group created on one process, a member added on
        // the other, another on the first — the fourth change is refused wherever it lands.
        let change = |method: reqwest::Method, base: &str, path: String| {
            flooder.request(method, format!("{base}{path}")).bearer_auth(&sender.1)
        };
        let (status, group) = post(&flooder, format!("{}/v1/groups", bases[0]), &sender.1, json!({"name": "g"})).await;
        assert_eq!(status, StatusCode::CREATED, "{group}");
        let group = group["id"].as_str().unwrap().to_owned();
        for (i, member) in [&users[2].0, &users[3].0].into_iter().enumerate() {
            let added = change(reqwest::Method::PUT, &bases[1 - i], format!("/v1/groups/{group}/members/{member}"));
            assert_eq!(added.send().await.unwrap().status(), StatusCode::NO_CONTENT);
        }
        let removal = change(reqwest::Method::DELETE, &bases[1], format!("/v1/groups/{group}/members/{}", users[2].0));
        assert_eq!(removal.send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS, "the fourth change");
        for server in servers {
            server.kill_hard().await;
        }
    }
}

/// Waits, if need be, until the clock minute (a limit's window) has 40 s left: enough for either run.
async fn wait_for_a_fresh_window() {
    let into = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 60_000;
    if into > 20_000 {
        tokio::time::sleep(std::time::Duration::from_millis((60_000 - into) as u64 + 200)).await;
    }
}

fn from(address: &str) -> Client {
    Client::builder().local_address(address.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
}

/// A registration at `base`: the user's id and token, or `None` when refused 429 (503s retried).
async fn register(http: &Client, base: &str, name: &str) -> Option<(String, String)> {
    for _ in 0..20 {
        let response = http.post(format!("{base}/v1/users")).json(&json!({"name": name})).send().await.unwrap();
        match response.status() {
            StatusCode::CREATED => {
                let reply: Value = response.json().await.unwrap();
                return Some((reply["id"].as_str().unwrap().to_owned(), reply["token"].as_str().unwrap().to_owned()));
            }
            StatusCode::TOO_MANY_REQUESTS => return None,
            StatusCode::SERVICE_UNAVAILABLE => continue,
            other => panic!("registration: {other}"),
        }
    }
    panic!("registration: unavailable 20 times")
}
