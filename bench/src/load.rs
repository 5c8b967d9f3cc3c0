//! Closed-loop load: each worker owns one connection and sends its next request as soon as the
//! previous answer arrives. Measures the server's capacity.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::stats::{Summary, histogram, record};

pub trait Worker: Send + 'static {
    /// Makes one request; `false` when the answer was not the expected one.
    fn step(&mut self, conn: &mut Conn) -> impl Future<Output = bool> + Send;
}

/// Runs `workers` concurrently: `warmup` unmeasured, then `duration` measured.
pub async fn closed_loop<W: Worker>(
    addr: SocketAddr,
    workers: Vec<W>,
    warmup: Duration,
    duration: Duration,
) -> Summary {
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            tokio::spawn(async move {
                let mut latencies = histogram();
                let mut errors = 0;
                let mut conn = Conn::open(addr).await.expect("connect to the server");
                loop {
                    let started = Instant::now();
                    if started >= end {
                        break;
                    }
                    let ok = worker.step(&mut conn).await;
                    if started >= measure_from {
                        record(&mut latencies, started.elapsed());
                        errors += u64::from(!ok);
                    }
                }
                (latencies, errors, Instant::now())
            })
        })
        .collect();
    let mut latencies = histogram();
    let mut errors = 0;
    let mut last = end;
    for task in tasks {
        let (worker_latencies, worker_errors, finished) = task.await.expect("worker panicked");
        latencies.add(&worker_latencies).expect("same histogram bounds");
        errors += worker_errors;
        last = last.max(finished);
    }
    Summary::new(&latencies, errors, last - measure_from)
}
