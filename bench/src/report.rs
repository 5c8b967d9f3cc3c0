//! Results as JSON (for tools) and as a markdown table (for BENCHMARKS.md), with the targets.

use std::fmt::Write as _;

use serde::Serialize;

use crate::growth::Stage;
use crate::stats::Summary;

#[derive(Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
}

impl Machine {
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { cpu, cores, memory_gib: kib / 1024.0 / 1024.0 }
    }
}

#[derive(Serialize)]
pub struct Scenario {
    pub name: String,
    pub summary: Summary,
    pub rss_mib: f64,
    pub note: String,
}

#[derive(Serialize)]
pub struct Target {
    pub name: String,
    pub measured: String,
    pub required: String,
    pub met: bool,
}

#[derive(Serialize)]
pub struct Report {
    pub command: String,
    pub machine: Machine,
    pub scenarios: Vec<Scenario>,
    pub growth: Vec<Stage>,
    pub targets: Vec<Target>,
}

/// A latency target: p99 under 10 ms, with no failures (`failures` says what they are).
fn p99_under_10_ms(name: &str, summary: &Summary, failures: &str) -> Target {
    Target {
        name: name.into(),
        measured: format!("{:.2} ms, {} {failures}", summary.p99_ms, summary.errors),
        required: format!("< 10 ms, 0 {failures}"),
        met: summary.p99_ms < 10.0 && summary.errors == 0,
    }
}

impl Report {
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// Evaluates the targets from the issue against what was measured in this run.
    pub fn evaluate_targets(&mut self) {
        let mut targets = Vec::new();
        let rps = |name: &str| self.scenario(name).map(|s| s.summary.requests_per_second);
        if let Some(health) = rps("health") {
            for (name, share) in [("poll-empty", 0.6), ("poll-new", 0.6), ("send-direct", 0.3)] {
                if let Some(measured) = rps(name) {
                    let ratio = measured / health;
                    targets.push(Target {
                        name: format!("{name} throughput vs health"),
                        measured: format!("{:.0} %", ratio * 100.0),
                        required: format!("≥ {:.0} %", share * 100.0),
                        met: ratio >= share,
                    });
                }
            }
        }
        for (name, bound) in [("inbox", 50.0), ("history", 10.0), ("mark-read", 10.0)] {
            if let Some(scenario) = self.scenario(name) {
                let summary = &scenario.summary;
                targets.push(Target {
                    name: format!("{name} p99 (p50 {:.2} ms), errors", summary.p50_ms),
                    measured: format!("{:.2} ms, {} errors", summary.p99_ms, summary.errors),
                    required: format!("< {bound:.0} ms, 0 errors"),
                    met: summary.p99_ms < bound && summary.errors == 0,
                });
            }
        }
        if let Some(realistic) = self.scenario("realistic") {
            targets.push(p99_under_10_ms("realistic p99, errors", &realistic.summary, "errors"));
        }
        if let Some(flood) = self.scenario("flood") {
            targets.push(p99_under_10_ms("others' p99 under a registration flood, errors", &flood.summary, "errors"));
        }
        if let Some(stream) = self.scenario("stream") {
            targets.push(p99_under_10_ms("stream delivery p99 (201 → frame), frames lost", &stream.summary, "lost"));
        }
        if let (Some(first), Some(last)) = (self.growth.first(), self.growth.last())
            && self.growth.len() > 1
        {
            let ratio = last.poll.p50_ms / first.poll.p50_ms;
            targets.push(Target {
                name: format!("poll p50 at {} vs {} stored", last.stored_messages, first.stored_messages),
                measured: format!("{ratio:.2}× ({:.3} vs {:.3} ms)", last.poll.p50_ms, first.poll.p50_ms),
                required: "≤ 1.2×".into(),
                met: ratio <= 1.2,
            });
            targets.push(Target {
                name: format!("server RSS, {} users, {} messages", last.users, last.stored_messages),
                measured: format!("{:.1} MiB (peak {:.1})", last.rss_mib, last.peak_rss_mib),
                required: "< 100 MB".into(),
                met: last.peak_rss_mib * 1.048_576 < 100.0,
            });
            targets.push(Target {
                name: format!("start to first response, {} messages", last.stored_messages),
                measured: format!("{:.1} ms", last.start_to_first_response_ms),
                required: "< 200 ms".into(),
                met: last.start_to_first_response_ms < 200.0,
            });
        }
        self.targets = targets;
    }

    pub fn errors(&self) -> u64 {
        self.scenarios.iter().map(|s| s.summary.errors).sum::<u64>()
            + self.growth.iter().map(|g| g.poll.errors + g.send.errors).sum::<u64>()
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "Machine: {} ({} cores), {:.0} GiB; load generator on the same machine.",
            m.cpu, m.cores, m.memory_gib
        );
        let _ = writeln!(out, "Command: `{}`\n", self.command);
        let _ = writeln!(
            out,
            "| scenario | requests/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | server RSS MiB | what |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for s in &self.scenarios {
            let v = &s.summary;
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.1} | {} | {:.1} | {} |",
                s.name, v.requests_per_second, v.p50_ms, v.p99_ms, v.p999_ms, v.max_ms, v.errors, s.rss_mib, s.note
            );
        }
        if !self.growth.is_empty() {
            let _ = writeln!(
                out,
                "\n| growth: stored messages | users | poll req/s | poll p50 ms | poll p99 ms | send req/s | send p50 ms | send p99 ms | errors | start→first response ms | RSS MiB (peak) |"
            );
            let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            for g in &self.growth {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.3} | {:.3} | {:.0} | {:.3} | {:.3} | {} | {:.1} | {:.1} ({:.1}) |",
                    g.stored_messages,
                    g.users,
                    g.poll.requests_per_second,
                    g.poll.p50_ms,
                    g.poll.p99_ms,
                    g.send.requests_per_second,
                    g.send.p50_ms,
                    g.send.p99_ms,
                    g.poll.errors + g.send.errors,
                    g.start_to_first_response_ms,
                    g.rss_mib,
                    g.peak_rss_mib
                );
            }
        }
        if !self.targets.is_empty() {
            let _ = writeln!(out, "\n| target | measured | required | met |\n|---|---|---|---|");
            for t in &self.targets {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    t.name,
                    t.measured,
                    t.required,
                    if t.met { "yes" } else { "**no**" }
                );
            }
        }
        out
    }
}
