//! `bench`: starts the release runtime on loopback, drives every scenario, prints the table and
//! checks the targets. Run through `cargo xtask bench`, which builds both binaries first.

mod client;
mod conversations;
mod dataset;
mod exchange;
mod flood;
mod growth;
mod load;
mod realistic;
mod report;
mod scenarios;
mod server;
mod stats;
mod stream;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::conversations::{Action, Reader};
use crate::dataset::{Dataset, Rng};
use crate::load::closed_loop;
use crate::report::{Machine, Report, Scenario};
use crate::scenarios::{Health, Poll, PollMode, SendDirect, SendGroup, deal};
use crate::server::Server;
use crate::stats::Summary;

#[derive(Parser, Debug)]
#[command(about = "Benchmarks the messaging runtime on loopback")]
struct Args {
    /// The runtime binary to benchmark (a release build).
    #[arg(long)]
    runtime: PathBuf,
    /// Directory for results (results.json, results.md) and the temporary stores.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// A few seconds in all, small data: checks that every scenario completes without errors.
    #[arg(long)]
    quick: bool,
    /// Measured seconds per closed-loop scenario and round (after a warm-up of a fifth of that).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Interleaved rounds of the closed-loop scenarios; each reports its median round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent connections of the closed-loop scenarios.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Simulated users of the realistic scenario.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Measured seconds of the realistic scenario.
    #[arg(long, default_value_t = 30.0)]
    realistic_seconds: f64,
    /// Stored-message counts of the growth scenario.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    growth: Vec<usize>,
    /// Registered users of the growth scenario.
    #[arg(long, default_value_t = 100_000)]
    growth_users: usize,
    /// Open streams during the stream scenario's deliveries.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// Messages sent to the streams' users.
    #[arg(long, default_value_t = 5000)]
    stream_sends: usize,
    /// Streams held open at the end, to measure memory per stream.
    #[arg(long, default_value_t = 10_000)]
    stream_hold: usize,
    /// Users whose inbox, history and read positions the conversation scenarios read and write.
    #[arg(long, default_value_t = 32)]
    readers: usize,
    /// Conversations each of them has.
    #[arg(long, default_value_t = 1000)]
    conversations: usize,
    /// Users with one 60-message conversation each, whose history and read position the history
    /// and mark-read scenarios read and write.
    #[arg(long, default_value_t = 1000)]
    talkers: usize,
    /// Run only these scenarios (health, poll-empty, poll-new, send-direct, send-group, inbox,
    /// history, mark-read, realistic, flood, stream, exchange, growth).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// How this run was invoked, for the report.
    #[arg(long, default_value = "cargo xtask bench")]
    command_line: String,
}

impl Args {
    fn quick(mut self) -> Self {
        self.seconds = 0.4;
        self.rounds = 1;
        self.connections = 4;
        self.users = 100;
        self.realistic_seconds = 2.0;
        self.growth = vec![6_000, 8_000];
        self.growth_users = 1_000;
        self.streams = 50;
        self.stream_sends = 200;
        self.stream_hold = 200;
        self.readers = 4;
        self.conversations = 100;
        self.talkers = 100;
        self
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

/// Users 0..1000 poll a feed of about 60 messages (30 received, 30 sent, among themselves only);
/// nobody ever writes to users 1000..2000, who poll empty feeds; users 2000..3000 send direct
/// messages to each other and to their 100 groups of 10. The realistic users follow, in groups of
/// 10 among themselves. Enough users that none exceeds the default rate limit while the server
/// runs flat out.
const POLL_NEW_USERS: std::ops::Range<usize> = 0..1000;
const POLL_EMPTY_USERS: std::ops::Range<usize> = 1000..2000;
const SENDING_USERS: std::ops::Range<usize> = 2000..3000;
const BASE_USERS: usize = 3000;
/// Connections the flood registers on, all from its one address.
const FLOODERS: usize = 4;

async fn closed_loop_scenarios(args: &Args, report: &mut Report, dir: &std::path::Path) -> Result<(), String> {
    let warmup = Duration::from_secs_f64(args.seconds / 5.0);
    let duration = Duration::from_secs_f64(args.seconds);
    let mut data = Dataset::new();
    let store = Dataset::open(dir)?;
    data.add_users(&store, BASE_USERS + args.users).await;
    data.add_groups(&store, SENDING_USERS.start, SENDING_USERS.len() / 10, 10).await;
    data.add_groups(&store, BASE_USERS, args.users / 10, 10).await;
    let mut rng = Rng::new(1);
    // Among the poll-new users only, so that everyone else starts with an empty feed.
    let n = POLL_NEW_USERS.len();
    let pairs = (0..n * 30).map(|i| (rng.below(n), i % n));
    data.add_direct_messages(&store, pairs.collect()).await;
    let reading = ["inbox", "history", "mark-read"].iter().any(|s| args.wants(s));
    let readers = match reading {
        true => conversations::add_readers(&mut data, &store, args.readers, args.conversations, args.talkers).await,
        false => conversations::Readers::none(),
    };
    let readers = Arc::new(readers);
    drop(store);
    let data = Arc::new(data);

    let server = Server::start(&args.runtime, dir, &data.keys.to_hex()).await?;
    let addr = server.addr;
    let c = args.connections;
    let poll_new: Vec<usize> = POLL_NEW_USERS.collect();
    let quiet: Vec<usize> = POLL_EMPTY_USERS.collect();
    let senders: Vec<usize> = SENDING_USERS.collect();
    let groups: Vec<usize> = (0..SENDING_USERS.len() / 10).collect();
    let scenarios: Vec<(&str, &str)> = [
        ("health", "GET /health: the HTTP stack's ceiling"),
        ("poll-empty", "poll with a cursor, nothing new"),
        ("poll-new", "poll returning 3 new messages"),
        ("send-direct", "durable direct message, 100 B"),
        ("send-group", "durable message to a group of 10"),
        ("inbox", "GET /v1/conversations?limit=100 of a user with the --conversations count"),
        ("history", "a page of 50 of a 60-message conversation, newest first"),
        ("mark-read", "PUT …/read: a durable write, one message further each time"),
    ]
    .into_iter()
    .filter(|(name, _)| args.wants(name))
    .collect();
    // Rounds interleave the scenarios, so a slow spell of the machine hits all of them alike;
    // each scenario reports its median round by throughput.
    let mut rounds: Vec<Vec<(Summary, f64)>> = vec![Vec::new(); scenarios.len()];
    for round in 0..args.rounds {
        for (i, (name, _)) in scenarios.iter().enumerate() {
            let summary = match *name {
                "health" => closed_loop(addr, (0..c).map(|_| Health).collect(), warmup, duration).await,
                "poll-empty" => {
                    let workers =
                        deal(&quiet, c).into_iter().map(|u| Poll::new(data.clone(), u, PollMode::FromStart(100)));
                    closed_loop(addr, workers.collect(), warmup, duration).await
                }
                "poll-new" => {
                    let workers =
                        deal(&poll_new, c).into_iter().map(|u| Poll::new(data.clone(), u, PollMode::Advance(3)));
                    closed_loop(addr, workers.collect(), warmup, duration).await
                }
                "send-direct" => {
                    let workers = deal(&senders, c)
                        .into_iter()
                        .enumerate()
                        .map(|(w, u)| SendDirect::new(data.clone(), u, SENDING_USERS, (round * c + w) as u64));
                    closed_loop(addr, workers.collect(), warmup, duration).await
                }
                "send-group" => {
                    let workers = deal(&groups, c).into_iter().map(|g| SendGroup::new(data.clone(), g));
                    closed_loop(addr, workers.collect(), warmup, duration).await
                }
                reading => {
                    let action = match reading {
                        "inbox" => Action::Inbox,
                        "history" => Action::History,
                        _ => Action::MarkRead,
                    };
                    let count = if let Action::Inbox = action { readers.inbox.len() } else { readers.talkers.len() };
                    let slots: Vec<usize> = (0..count).collect();
                    let workers = deal(&slots, c.min(slots.len()))
                        .into_iter()
                        .map(|u| Reader::new(data.clone(), readers.clone(), u, action));
                    closed_loop(addr, workers.collect(), warmup, duration).await
                }
            };
            eprintln!("round {}: {name}: {:.0} requests/s", round + 1, summary.requests_per_second);
            rounds[i].push((summary, server.rss_mib()));
        }
    }
    for ((name, note), mut results) in scenarios.into_iter().zip(rounds) {
        results.sort_by(|a, b| a.0.requests_per_second.total_cmp(&b.0.requests_per_second));
        let errors: u64 = results.iter().map(|(s, _)| s.errors).sum();
        let (mut summary, rss_mib) = results.swap_remove(results.len() / 2);
        summary.errors = errors; // errors of every round count, not just the median's
        let note = format!("{note}; median of {} rounds", args.rounds);
        report.scenarios.push(Scenario { name: name.into(), summary, rss_mib, note });
    }
    if args.wants("realistic") {
        let users = BASE_USERS..BASE_USERS + args.users;
        let first_group = SENDING_USERS.len() / 10;
        let groups = first_group..first_group + args.users / 10;
        let seconds = Duration::from_secs_f64(args.realistic_seconds);
        let result = realistic::run(addr, data.clone(), users, groups, seconds, 64.min(args.users)).await;
        let note = format!(
            "open loop: {} users × (1 poll/s + 1 send/min); {} polls, {} sends",
            args.users, result.polls, result.sends
        );
        eprintln!("realistic: done");
        report.scenarios.push(Scenario {
            name: "realistic".into(),
            summary: result.summary,
            rss_mib: server.rss_mib(),
            note,
        });
    }
    if args.wants("flood") {
        let users = BASE_USERS..BASE_USERS + args.users;
        let first_group = SENDING_USERS.len() / 10;
        let groups = first_group..first_group + args.users / 10;
        let seconds = Duration::from_secs_f64(args.realistic_seconds);
        // The realistic users start 200 ms from now; the flood lasts as long as they do.
        let end = tokio::time::Instant::now() + Duration::from_millis(200) + seconds;
        let flood = tokio::spawn(flood::run(addr, FLOODERS, end));
        let result = realistic::run(addr, data.clone(), users, groups, seconds, 64.min(args.users)).await;
        let flood = flood.await.map_err(|e| format!("the flood panicked: {e}"))??;
        let note = format!(
            "the realistic load ({} users; {} polls, {} sends) while one address ({}, {FLOODERS} connections) \
             registers as fast as it can: {:.0} registrations/s, {:.1} % refused 429, {} other answers",
            args.users,
            result.polls,
            result.sends,
            flood::FLOOD_ADDRESS,
            flood.per_second(),
            flood.limited_percent(),
            flood.other
        );
        eprintln!("flood: done");
        report.scenarios.push(Scenario {
            name: "flood".into(),
            summary: result.summary,
            rss_mib: server.rss_mib(),
            note,
        });
    }
    if args.wants("stream") {
        // Last: it writes to the users that the poll-empty scenario keeps empty.
        let plan = stream::Plan { streams: args.streams, sends: args.stream_sends, hold: args.stream_hold };
        let result = stream::run(&server, data.clone(), POLL_EMPTY_USERS, SENDING_USERS, &plan).await?;
        let note = format!(
            "{} open streams; latency from the send's 201 to the frame (from the send's start: p50 {:.3} ms, \
             p99 {:.3} ms); then {} streams held at {:.1} MiB, {:.1} KiB each",
            plan.streams,
            result.end_to_end.p50_ms,
            result.end_to_end.p99_ms,
            result.held,
            result.held_rss_mib,
            result.kib_per_stream
        );
        eprintln!("stream: done");
        report.scenarios.push(Scenario {
            name: "stream".into(),
            summary: result.delivery,
            rss_mib: result.rss_mib,
            note,
        });
    }
    server.stop().await
}

async fn run(args: Args) -> Result<Report, String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    let scratch = tempfile::tempdir_in(&args.out).map_err(|e| e.to_string())?;
    let mut report = Report {
        command: args.command_line.clone(),
        machine: Machine::detect(),
        scenarios: Vec::new(),
        growth: Vec::new(),
        targets: Vec::new(),
    };
    let closed = ["health", "poll-empty", "poll-new", "send-direct", "send-group", "inbox", "history", "mark-read"];
    if closed.iter().chain(&["realistic", "flood", "stream"]).any(|s| args.wants(s)) {
        closed_loop_scenarios(&args, &mut report, &scratch.path().join("scenarios")).await?;
    }
    if args.wants("exchange") {
        let warmup = Duration::from_secs_f64(args.seconds / 5.0);
        let duration = Duration::from_secs_f64(args.seconds);
        let dir = scratch.path().join("exchange");
        let scenarios = exchange::run(&args.runtime, &dir, args.connections, warmup, duration).await?;
        report.scenarios.extend(scenarios);
    }
    if args.wants("growth") {
        let plan = growth::Plan {
            users: args.growth_users,
            stages: args.growth.clone(),
            connections: args.connections.min(8),
            warmup: Duration::from_secs_f64(args.seconds / 5.0),
            duration: Duration::from_secs_f64(args.seconds),
        };
        report.growth = growth::run(&args.runtime, &scratch.path().join("growth"), &plan).await?;
    }
    report.evaluate_targets();
    Ok(report)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let args = if args.quick { args.quick() } else { args };
    let out = args.out.clone();
    let report = match run(args).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    let markdown = report.markdown();
    println!("{markdown}");
    let json = serde_json::to_string_pretty(&report).expect("serializable");
    for (name, contents) in [("results.json", json.as_str()), ("results.md", markdown.as_str())] {
        if let Err(error) = std::fs::write(out.join(name), contents) {
            eprintln!("bench: writing {name}: {error}");
            return ExitCode::FAILURE;
        }
    }
    let errors = report.errors();
    if errors > 0 {
        eprintln!("bench: {errors} requests failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
