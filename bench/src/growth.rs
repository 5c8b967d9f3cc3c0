//! Poll and send latency as the store grows, plus the memory and start-up targets at the largest
//! size. "Probe" users have the same 10-message feed at every size, so a poll does identical work
//! at every stage and only the size of the store around it changes. There are enough probes that
//! none exceeds the default per-user rate limit while they are polled flat out.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::dataset::{Dataset, Rng};
use crate::load::closed_loop;
use crate::scenarios::{Poll, PollMode, SendDirect, deal};
use crate::server::Server;
use crate::stats::Summary;

const MAX_PROBES: usize = 1000;
const PROBE_FEED: usize = 10;

pub struct Plan {
    pub users: usize,
    pub stages: Vec<usize>,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

#[derive(Serialize)]
pub struct Stage {
    pub stored_messages: usize,
    pub users: usize,
    pub poll: Summary,
    pub send: Summary,
    pub start_to_first_response_ms: f64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    pub load_seconds: f64,
}

pub async fn run(binary: &Path, dir: &Path, plan: &Plan) -> Result<Vec<Stage>, String> {
    let mut data = Dataset::new();
    let mut rng = Rng::new(7);
    let probes = MAX_PROBES.min(plan.users / 2);
    let others = probes..plan.users;
    let store = Dataset::open(dir)?;
    let loading = std::time::Instant::now();
    data.add_users(&store, plan.users).await;
    let probe_pairs = (0..probes * PROBE_FEED).map(|i| (others.start + rng.below(others.len()), i % probes)).collect();
    data.add_direct_messages(&store, probe_pairs).await;
    let mut stored = probes * PROBE_FEED;
    let mut load_seconds = loading.elapsed().as_secs_f64();
    drop(store);
    let data = Arc::new(data);

    let mut stages = Vec::new();
    for &target in &plan.stages {
        if target > stored {
            let loading = std::time::Instant::now();
            let store = Dataset::open(dir)?;
            let pairs = (stored..target)
                .map(|_| (others.start + rng.below(others.len()), others.start + rng.below(others.len())))
                .collect();
            data.add_direct_messages(&store, pairs).await;
            stored = target;
            load_seconds += loading.elapsed().as_secs_f64();
        }
        eprintln!("growth: {stored} messages stored, measuring");
        let server = Server::start(binary, dir, &data.keys.to_hex()).await?;
        let probe_users: Vec<usize> = (0..probes).collect();
        let pollers = deal(&probe_users, plan.connections)
            .into_iter()
            .map(|users| Poll::new(data.clone(), users, PollMode::FromStart(PROBE_FEED)))
            .collect();
        let poll = closed_loop(server.addr, pollers, plan.warmup, plan.duration).await;
        let senders: Vec<usize> = others.clone().collect();
        let senders = deal(&senders, plan.connections)
            .into_iter()
            .enumerate()
            .map(|(i, users)| SendDirect::new(data.clone(), users, others.clone(), i as u64))
            .collect();
        let send = closed_loop(server.addr, senders, plan.warmup, plan.duration).await;
        stages.push(Stage {
            stored_messages: stored,
            users: plan.users,
            poll,
            send,
            start_to_first_response_ms: server.start_to_first_response.as_secs_f64() * 1000.0,
            rss_mib: server.rss_mib(),
            peak_rss_mib: server.peak_rss_mib(),
            load_seconds,
        });
        server.stop().await?;
    }
    Ok(stages)
}
