//! Streams: with `streams` WebSockets open, direct messages to their users are sent one after
//! another by a few senders, and each message's delivery latency is taken from the moment its
//! sender had the 201 to the moment its frame reached the recipient's stream (zero when the
//! frame came first: the server publishes on commit, before it answers). Then more streams are
//! opened, up to `hold`, to see what one process holds and at what memory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::StatusCode;
use messaging_tests::stream::{Auth, Event, StreamClient};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::Conn;
use crate::dataset::{Dataset, Rng, text};
use crate::server::Server;
use crate::stats::{Summary, histogram, record};

const SENDERS: usize = 4;
const WAIT: Duration = Duration::from_secs(30);

pub struct Plan {
    pub streams: usize,
    pub sends: usize,
    pub hold: usize,
}

pub struct StreamResult {
    /// Acknowledgement to frame, one per message; `errors` are messages whose frame never came.
    pub delivery: Summary,
    /// From the send's request leaving the sender to the frame: what a conversation feels.
    pub end_to_end: Summary,
    pub rss_mib: f64,
    pub kib_per_stream: f64,
    pub held: usize,
    pub held_rss_mib: f64,
}

async fn open(base: &str, data: &Dataset, user: usize) -> Result<StreamClient, String> {
    let mut stream =
        StreamClient::connect(base, Auth::Header(&data.tokens[user]), None).await.map_err(|e| e.to_string())?;
    stream.until_caught_up(WAIT).await.ok_or("a stream ended while catching up")?;
    Ok(stream)
}

pub async fn run(
    server: &Server,
    data: Arc<Dataset>,
    listeners: Range<usize>,
    senders: Range<usize>,
    plan: &Plan,
) -> Result<StreamResult, String> {
    let base = format!("http://{}", server.addr);
    let before = server.rss_mib();
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(String, Instant)>();
    let mut readers = Vec::new();
    for i in 0..plan.streams {
        let mut stream = open(&base, &data, listeners.start + i % listeners.len()).await?;
        let arrivals = arrivals.clone();
        readers.push(tokio::spawn(async move {
            while let Some(event) = stream.next(Duration::from_secs(3600)).await {
                match event {
                    Event::Message { id, .. } => {
                        let _ = arrivals.send((id, Instant::now()));
                    }
                    Event::Closed(_) => return,
                    Event::CaughtUp { .. } | Event::Ping | Event::Reauthed { .. } | Event::Error { .. } => {}
                }
            }
        }));
    }
    let open_rss = server.rss_mib();

    // Each message's send start and acknowledgement.
    let acknowledged = Arc::new(Mutex::new(HashMap::<String, (Instant, Instant)>::new()));
    let started = Instant::now();
    let tasks: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (data, acknowledged, senders) = (data.clone(), acknowledged.clone(), senders.clone());
            let recipients = listeners.start..listeners.start + plan.streams.min(listeners.len());
            let count = plan.sends / SENDERS;
            let addr: SocketAddr = server.addr;
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await?;
                let mut rng = Rng::new(s as u64 + 7);
                for i in 0..count {
                    let from = senders.start + rng.below(senders.len());
                    let to = recipients.start + rng.below(recipients.len());
                    let path = format!("/v1/users/{}/messages", data.users[to]);
                    let body = serde_json::json!({ "text": text(i) }).to_string();
                    let sent = Instant::now();
                    let (status, reply) = conn.post(&path, &data.tokens[from], body).await?;
                    let at = Instant::now();
                    if status != StatusCode::CREATED {
                        return Err(format!("a send answered {status}"));
                    }
                    let reply: serde_json::Value = serde_json::from_slice(&reply).map_err(|e| e.to_string())?;
                    let id = reply["id"].as_str().ok_or("a send without an id")?.to_owned();
                    acknowledged.lock().unwrap().insert(id, (sent, at));
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    let sending = started.elapsed();

    let expected = acknowledged.lock().unwrap().len();
    let (mut latencies, mut end_to_end) = (histogram(), histogram());
    let deadline = Instant::now() + WAIT;
    let mut received = 0;
    while received < expected {
        let Ok(Some((id, at))) = tokio::time::timeout_at(deadline, arrived.recv()).await else { break };
        if let Some((sent, ack)) = acknowledged.lock().unwrap().get(&id) {
            record(&mut latencies, at.saturating_duration_since(*ack));
            record(&mut end_to_end, at.saturating_duration_since(*sent));
            received += 1;
        }
    }
    let delivery = Summary::new(&latencies, (expected - received) as u64, sending);
    let end_to_end = Summary::new(&end_to_end, 0, sending);

    // Holding: idle streams on top, spread over the listeners, until `hold` are open.
    let mut held = Vec::new();
    for i in plan.streams..plan.hold {
        held.push(open(&base, &data, listeners.start + i % listeners.len()).await?);
    }
    let held_rss_mib = server.rss_mib();
    let kib_per_stream = (held_rss_mib - before) * 1024.0 / plan.hold.max(1) as f64;
    drop(held);
    for reader in readers {
        reader.abort();
    }
    Ok(StreamResult {
        delivery,
        end_to_end,
        rss_mib: open_rss,
        kib_per_stream,
        held: plan.hold.max(plan.streams),
        held_rss_mib,
    })
}
