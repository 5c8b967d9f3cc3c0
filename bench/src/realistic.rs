//! Open-loop load shaped like real clients: every user polls once a second and sends once a
//! minute (half to a group), on a schedule that does not wait for the server. Latency is taken
//! from the moment a request was due, so a slow server cannot hide its queueing (no coordinated
//! omission).

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::client::Conn;
use crate::dataset::{Dataset, Rng, text};
use crate::scenarios::scan_page;
use crate::stats::{Summary, histogram, record};

const POLL_EVERY: Duration = Duration::from_secs(1);
const SEND_EVERY: Duration = Duration::from_secs(60);

/// Keep-alive connections shared by all simulated users, as behind a load balancer.
struct Pool {
    permits: Semaphore,
    idle: Mutex<Vec<Conn>>,
}

pub struct RealisticResult {
    pub summary: Summary,
    pub polls: u64,
    pub sends: u64,
}

pub async fn run(
    addr: SocketAddr,
    data: Arc<Dataset>,
    users: Range<usize>,
    groups: Range<usize>,
    duration: Duration,
    connections: usize,
) -> RealisticResult {
    let mut idle = Vec::new();
    for _ in 0..connections {
        idle.push(Conn::open(addr).await.expect("connect to the server"));
    }
    let pool = Arc::new(Pool { permits: Semaphore::new(connections), idle: Mutex::new(idle) });
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + duration;
    let tasks: Vec<_> = users
        .clone()
        .map(|user| {
            let (pool, data, users, groups) = (pool.clone(), data.clone(), users.clone(), groups.clone());
            tokio::spawn(async move {
                let mut rng = Rng::new(user as u64);
                let mut next_poll = start + Duration::from_micros(rng.below(1_000_000) as u64);
                let mut next_send = start + Duration::from_millis(rng.below(60_000) as u64);
                let mut cursor: Option<String> = None;
                let (mut latencies, mut errors, mut polls, mut sends) = (histogram(), 0u64, 0u64, 0u64);
                loop {
                    let sending = next_send < next_poll;
                    let due = if sending { next_send } else { next_poll };
                    if due >= end {
                        break;
                    }
                    tokio::time::sleep_until(due).await;
                    let _permit = pool.permits.acquire().await.expect("never closed");
                    let mut conn = pool.idle.lock().await.pop().expect("a permit guarantees a connection");
                    let ok = if sending {
                        sends += 1;
                        next_send += SEND_EVERY;
                        let path = match rng.below(2) {
                            0 if !groups.is_empty() => {
                                let (group, _) = &data.groups[groups.start + (user - users.start) / 10 % groups.len()];
                                format!("/v1/groups/{group}/messages")
                            }
                            _ => format!("/v1/users/{}/messages", data.users[users.start + rng.below(users.len())]),
                        };
                        let body = serde_json::json!({ "text": text(user) }).to_string();
                        matches!(conn.post(&path, &data.tokens[user], body).await, Ok((StatusCode::CREATED, _)))
                    } else {
                        polls += 1;
                        next_poll += POLL_EVERY;
                        let path = match &cursor {
                            Some(cursor) => format!("/v1/messages?after={cursor}"),
                            None => "/v1/messages".to_owned(),
                        };
                        match conn.get(&path, Some(&data.tokens[user])).await {
                            Ok((StatusCode::OK, body)) => match scan_page(&body) {
                                Some((_, next)) => {
                                    cursor = Some(next);
                                    true
                                }
                                None => false,
                            },
                            _ => false,
                        }
                    };
                    record(&mut latencies, due.elapsed());
                    errors += u64::from(!ok);
                    pool.idle.lock().await.push(conn);
                }
                (latencies, errors, polls, sends)
            })
        })
        .collect();
    let (mut latencies, mut errors, mut polls, mut sends) = (histogram(), 0, 0, 0);
    for task in tasks {
        let (l, e, p, s) = task.await.expect("user task panicked");
        latencies.add(&l).expect("same bounds");
        errors += e;
        polls += p;
        sends += s;
    }
    RealisticResult { summary: Summary::new(&latencies, errors, duration), polls, sends }
}
