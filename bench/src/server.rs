//! The runtime under test: the real release binary as a child process on loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use runtime::domain::Rule;

use crate::client::Conn;

/// A limit no scenario reaches.
const NEVER_REACHED: &str = "1000000000";

/// Whether the server limits registrations and sign-ins per source address as by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addresses {
    Limited,
    Unlimited,
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// From spawning the process to its first successful HTTP response.
    pub start_to_first_response: Duration,
}

impl Server {
    /// Starts `runtime serve` with the default settings except address, data dir and key.
    pub async fn start(binary: &Path, data_dir: &Path, token_key: &str) -> Result<Self, String> {
        Self::start_with(binary, data_dir, &["--token-key", token_key], Addresses::Limited).await
    }

    /// Starts `runtime serve` on loopback in `data_dir` with these flags.
    ///
    /// The per-user limits are on, and set where no scenario reaches them: every send and
    /// stream pays for its checks as under the defaults, while the closed loops, which send far
    /// faster than a person, measure the server, not the limits. The per-address limit is the
    /// default with [`Addresses::Limited`] (the flood scenario measures it), and likewise never
    /// reached with [`Addresses::Unlimited`] (the sign-in throughput scenarios, all from one
    /// address). (Environment variables, not flags: a binary from before the limits ignores them,
    /// so commits compare.)
    pub async fn start_with(
        binary: &Path,
        data_dir: &Path,
        flags: &[&str],
        addresses: Addresses,
    ) -> Result<Self, String> {
        let started = Instant::now();
        let unreached = Rule::ALL
            .into_iter()
            .filter(|rule| *rule != Rule::UnauthenticatedPerIp || addresses == Addresses::Unlimited);
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(flags)
            .envs(unreached.map(|rule| (rule.variable(), NEVER_REACHED)))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| "the server did not start within 60 s".to_owned())?
            .map_err(|e| e.to_string())?
            .ok_or("the server exited before listening")?;
        let addr = line
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the server: {line}"))?;
        let mut conn = Conn::open(addr).await?;
        let (status, _) = conn.get("/health", None).await?;
        if !status.is_success() {
            return Err(format!("health answered {status}"));
        }
        Ok(Self { child, addr, start_to_first_response: started.elapsed() })
    }

    fn status_field_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.status_field_kib("VmRSS:").unwrap_or(0) as f64 / 1024.0
    }

    /// Peak resident memory so far, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.status_field_kib("VmHWM:").unwrap_or(0) as f64 / 1024.0
    }

    /// SIGTERM, then wait: the store is closed cleanly before the next stage reopens it.
    pub async fn stop(mut self) -> Result<(), String> {
        let pid = self.child.id().ok_or("already exited")?.to_string();
        Command::new("kill").args(["-TERM", &pid]).status().await.map_err(|e| e.to_string())?;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .map_err(|_| "the server did not stop within 30 s".to_owned())?
            .map_err(|e| e.to_string())?;
        if status.success() { Ok(()) } else { Err(format!("the server exited with {status}")) }
    }
}
