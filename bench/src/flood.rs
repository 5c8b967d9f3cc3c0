//! One address registering users as fast as it can — a closed loop on a few connections bound to
//! their own loopback address — while the realistic users poll and send: what the flood costs
//! everyone else's latency, and how much of it the server refuses (429).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::time::Instant;

use crate::client::Conn;

/// The flood's source address: its own, so that a per-address limit can tell it from the others.
pub const FLOOD_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

#[derive(Clone, Copy, Debug, Default)]
pub struct FloodResult {
    pub created: u64,
    pub limited: u64,
    /// Any other answer, or a failed request.
    pub other: u64,
    pub elapsed: Duration,
}

impl FloodResult {
    pub fn attempts(&self) -> u64 {
        self.created + self.limited + self.other
    }

    pub fn per_second(&self) -> f64 {
        self.attempts() as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The share of the flood's requests answered 429, in percent.
    pub fn limited_percent(&self) -> f64 {
        100.0 * self.limited as f64 / self.attempts().max(1) as f64
    }
}

/// Registers from [`FLOOD_ADDRESS`] on `connections` connections until `end`.
pub async fn run(addr: SocketAddr, connections: usize, end: Instant) -> Result<FloodResult, String> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for flooder in 0..connections {
        let mut conn = Conn::open_from(FLOOD_ADDRESS, addr).await?;
        tasks.push(tokio::spawn(async move {
            let mut result = FloodResult::default();
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                let body = serde_json::json!({ "name": format!("flood-{flooder}-{n}") }).to_string();
                match conn.send(Method::POST, "/v1/users", None, Some(body)).await {
                    Ok((StatusCode::CREATED, _)) => result.created += 1,
                    Ok((StatusCode::TOO_MANY_REQUESTS, _)) => result.limited += 1,
                    _ => result.other += 1,
                }
            }
            result
        }));
    }
    let mut total = FloodResult::default();
    for task in tasks {
        let one = task.await.map_err(|e| format!("a flooder panicked: {e}"))?;
        total.created += one.created;
        total.limited += one.limited;
        total.other += one.other;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
