//! `measure-usage`: writes `config/usage.toml`, what each API operation costs, for the cost
//! report. Run by `cargo xtask measure-usage`, which starts the emulators and builds the release
//! runtime. DynamoDB requests, billed units and response sizes come from an in-process run over
//! the DynamoDB store (its counters); the CPU time from the release binary started as Lambda
//! starts it, under `cargo lambda watch`, fed API Gateway events: the CPU all its threads spent
//! on each invocation (`/proc/<pid>/task/*/schedstat`), the median over many invocations.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use messaging_tests::Backend;
use messaging_tests::backend::{emulator_endpoint, fresh_tables, lambda_runtime_api};
use messaging_tests::lambda_events;
use messaging_tests::usage::{self, Api};
use runtime::store::dynamodb::metrics::MeasuredUsage;
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// The release runtime binary.
    #[arg(long)]
    runtime: PathBuf,
    /// Where to write the usage file.
    #[arg(long)]
    out: PathBuf,
    /// Invocations of each operation measured (after 20 unmeasured ones).
    #[arg(long, default_value_t = 100)]
    invocations: u32,
}

struct Lambda {
    http: reqwest::Client,
    api: String,
}

impl Api for Lambda {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let reply = lambda_events::call(&self.http, &self.api, method, path, token, body).await;
        (reply.status, reply.body)
    }
}

/// CPU time all threads of `pid` have had, in nanoseconds.
fn cpu_nanos(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the function is running");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|m| m.trim_start_matches([' ', '\t', ':']));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{} core(s), {}", cores, model.unwrap_or("unknown CPU"))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (Some(dynamodb), Some(api)) = (emulator_endpoint(), lambda_runtime_api()) else {
        panic!("run through `cargo xtask measure-usage`, which starts the emulators");
    };
    let backend = Backend::dynamodb().await.expect("the emulator");
    let mut operations = usage::store_usage(&backend).await;
    let feed_entry_bytes = usage::feed_entry_bytes(&backend).await;

    let tables = fresh_tables();
    let settings = lambda_events::function_settings(&dynamodb, &tables);
    let created =
        tokio::process::Command::new(&args.runtime).arg("create-tables").envs(settings.clone()).status().await;
    assert!(created.expect("run create-tables").success());
    let function = lambda_events::function_command(&args.runtime, &api, 128, &settings)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start the function");
    let pid = function.id().expect("running");
    let lambda = Lambda { http: reqwest::Client::new(), api };
    tokio::time::timeout(Duration::from_secs(60), lambda.call("GET", "/health", None, None))
        .await
        .expect("the function answers");

    for operation in usage::operations(&lambda).await {
        let mut samples = Vec::with_capacity(args.invocations as usize);
        for i in 0..20 + args.invocations as usize {
            let request = (operation.request)(i);
            let before = cpu_nanos(pid);
            let (status, body) = request.send(&lambda).await;
            let spent = cpu_nanos(pid) - before;
            assert_eq!(status, operation.expected_status, "{}: {body}", operation.name);
            if i >= 20 {
                samples.push(spent);
            }
        }
        samples.sort_unstable();
        let median_ms = samples[samples.len() / 2] as f64 / 1e6;
        eprintln!(
            "{:<14} CPU median {median_ms:.3} ms (p10 {:.3}, p90 {:.3})",
            operation.name,
            samples[samples.len() / 10] as f64 / 1e6,
            samples[samples.len() * 9 / 10] as f64 / 1e6
        );
        operations.get_mut(&operation.name).expect("the same operations in-process").lambda_cpu_ms =
            (median_ms * 1000.0).round() / 1000.0;
    }

    let measured = MeasuredUsage {
        measured_on: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        command: "cargo xtask measure-usage".into(),
        machine: machine(),
        invocations: args.invocations,
        text_bytes: usage::TEXT_BYTES,
        feed_entry_bytes,
        operations,
    };
    let header = "# What each API operation costs, for `provisioner cost-report`. Written by `cargo xtask measure-usage`:\n\
                  # do not edit by hand (a test checks the DynamoDB figures and response sizes against the code).\n\n";
    let text = toml::to_string(&measured).expect("serialisable");
    std::fs::write(&args.out, format!("{header}{text}")).expect("write the usage file");
    eprintln!("wrote {}", args.out.display());
}
