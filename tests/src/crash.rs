//! Crash cycles on the real binary: concurrent direct and group senders, `kill -9` at a random
//! moment, restart on the same data directory, and every feed read on from the cursor it had
//! before the crash. Shared by the test suite (a few dozen cycles) and `cargo xtask soak`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::json;

use crate::process::Server;
use crate::transport::Http;

const USERS: usize = 4;

struct User {
    id: String,
    token: String,
    /// Where this user's polling stopped; must stay valid across every restart.
    cursor: Option<String>,
    /// Every message id polled, in order, over all cycles.
    seen: Vec<String>,
}

/// What a run proved, for the report.
#[derive(Debug, Default)]
pub struct CrashReport {
    pub cycles: usize,
    pub acknowledged_direct: usize,
    pub acknowledged_group: usize,
    pub elapsed: Duration,
}

/// A random moment to kill at: different every cycle, from a source with no seed to manage.
fn random_millis(range: std::ops::Range<u64>) -> u64 {
    range.start + (uuid::Uuid::new_v4().as_u128() as u64) % (range.end - range.start)
}

/// Runs `cycles` crash cycles of `binary` on a fresh data directory and asserts, after each,
/// that every acknowledged message is in every one of its recipients' feeds exactly once.
pub async fn run(binary: &Path, cycles: usize) -> CrashReport {
    let dir = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    let args: [&std::ffi::OsStr; 4] =
        ["--data-dir".as_ref(), dir.path().as_os_str(), "--rate-limit-per-second".as_ref(), "0".as_ref()];
    let start = || Server::start(binary, &args);
    let http = Client::new();
    // The server's port changes with every restart.
    let api = |server: &Server| Http { client: http.clone(), base: server.base.clone() };

    let mut server = start().await;
    let mut users = Vec::new();
    for n in 0..USERS {
        let (_, user) = api(&server)
            .try_call("POST", "/v1/users", None, Some(json!({"name": format!("u{n}")})))
            .await
            .expect("register");
        users.push(User {
            id: user["id"].as_str().unwrap().into(),
            token: user["token"].as_str().unwrap().into(),
            cursor: None,
            seen: Vec::new(),
        });
    }
    let (_, group) = api(&server)
        .try_call("POST", "/v1/groups", Some(&users[0].token), Some(json!({"name": "all"})))
        .await
        .expect("group");
    let group = group["id"].as_str().unwrap().to_owned();
    for user in &users[1..] {
        let path = format!("/v1/groups/{group}/members/{}", user.id);
        let (status, _) = api(&server).try_call("PUT", &path, Some(&users[0].token), None).await.expect("add member");
        assert_eq!(status, 204);
    }

    // Message id → the users whose feeds must hold it.
    let mut expected: HashMap<String, Vec<usize>> = HashMap::new();
    let mut report = CrashReport { cycles, ..Default::default() };
    for cycle in 0..cycles {
        let mut senders = Vec::new();
        for s in 0..USERS {
            let (api, group) = (api(&server), group.clone());
            let (token, to) = (users[s].token.clone(), users[(s + 1) % USERS].id.clone());
            // Half the senders write to the group (one transaction for four feeds), half direct.
            let to_group = s % 2 == 0;
            senders.push(tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let path = if to_group {
                        format!("/v1/groups/{group}/messages")
                    } else {
                        format!("/v1/users/{to}/messages")
                    };
                    let body = json!({"text": format!("{cycle}-{s}-{i}"), "client_id": format!("{cycle}-{s}-{i}")});
                    match api.try_call("POST", &path, Some(&token), Some(body)).await {
                        Ok((201, message)) => acknowledged.push(message["id"].as_str().unwrap().to_owned()),
                        _ => return (s, to_group, acknowledged),
                    }
                }
                unreachable!()
            }));
        }
        tokio::time::sleep(Duration::from_millis(random_millis(30..400))).await;
        server.kill_hard().await;
        for sender in senders {
            let (s, to_group, acknowledged) = sender.await.expect("sender");
            let recipients: Vec<usize> = if to_group { (0..USERS).collect() } else { vec![s, (s + 1) % USERS] };
            if to_group {
                report.acknowledged_group += acknowledged.len();
            } else {
                report.acknowledged_direct += acknowledged.len();
            }
            for id in acknowledged {
                expected.insert(id, recipients.clone());
            }
        }

        server = start().await;
        for user in &mut users {
            loop {
                let query = user.cursor.as_ref().map_or("limit=500".to_owned(), |c| format!("limit=500&after={c}"));
                let path = format!("/v1/messages?{query}");
                let (status, page) = api(&server).try_call("GET", &path, Some(&user.token), None).await.expect("poll");
                assert_eq!(status, 200, "cycle {cycle}: a cursor from before the crash was refused: {page}");
                user.seen
                    .extend(page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()));
                user.cursor = Some(page["next"].as_str().unwrap().to_owned());
                if page["has_more"] == false {
                    break;
                }
            }
        }
        for (n, user) in users.iter().enumerate() {
            let seen: HashSet<&String> = user.seen.iter().collect();
            assert_eq!(seen.len(), user.seen.len(), "cycle {cycle}: user {n} received a message twice");
            let lost: Vec<&String> =
                expected.iter().filter(|(id, to)| to.contains(&n) && !seen.contains(id)).map(|(id, _)| id).collect();
            assert!(lost.is_empty(), "cycle {cycle}: user {n} lacks {} acknowledged messages: {lost:?}", lost.len());
        }
    }
    server.kill_hard().await;
    report.elapsed = started.elapsed();
    report
}
