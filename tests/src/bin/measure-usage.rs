//! `measure-usage`: writes `config/usage.toml`, what each API operation costs, for the cost
//! report. Run by `cargo xtask measure-usage`, which starts the emulators and builds the release
//! runtime. DynamoDB requests, billed units and response sizes come from an in-process run over
//! the DynamoDB store (its counters); the CPU time from the release binary started as Lambda
//! starts it, under `cargo lambda watch`, fed API Gateway events: the CPU all its threads spent
//! on each invocation (`/proc/<pid>/task/*/schedstat`), the median over many invocations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use contract::env::var;
use contract::usage::{MeasuredGroup, MeasuredUsage, Operation, OperationUsage, Recipients};
use messaging_tests::Backend;
use messaging_tests::backend::{emulator_endpoint, fresh_tables, lambda_runtime_api};
use messaging_tests::push_recorder::PushRecorder;
use messaging_tests::transport::{Lambda, Transport};
use messaging_tests::usage;
use messaging_tests::{identity_provider, lambda_events};
use serde_json::json;

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
    /// Keep the CPU figures of this earlier usage file instead of measuring them: CPU times
    /// compare only on the machine they were taken on, DynamoDB figures and sizes everywhere.
    #[arg(long)]
    cpu_from: Option<PathBuf>,
}

/// `operations` with the CPU figures of the usage file at `path` (every operation must be in it:
/// a new one needs a measurement of its own), and that file's date and machine.
fn keep_cpu(path: &PathBuf, operations: &mut BTreeMap<Operation, OperationUsage>) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let earlier: MeasuredUsage = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (operation, usage) in operations.iter_mut() {
        let kept = earlier.operation(*operation).unwrap_or_else(|e| panic!("--cpu-from {}: {e}", path.display()));
        usage.lambda_cpu_ms = kept.lambda_cpu_ms;
    }
    let on = earlier.cpu_measured_on.unwrap_or(earlier.measured_on);
    (on, earlier.cpu_machine.unwrap_or(earlier.machine))
}

/// The median CPU time (ms, to the µs) of `step` over `invocations` runs, after 20 unmeasured.
async fn cpu_median<F: Future<Output = ()>>(
    pid: u32,
    invocations: u32,
    operation: Operation,
    mut step: impl FnMut(usize) -> F,
) -> f64 {
    let mut samples = Vec::with_capacity(invocations as usize);
    for i in 0..20 + invocations as usize {
        let before = cpu_nanos(pid);
        step(i).await;
        let spent = cpu_nanos(pid) - before;
        if i >= 20 {
            samples.push(spent);
        }
    }
    samples.sort_unstable();
    let median_ms = samples[samples.len() / 2] as f64 / 1e6;
    eprintln!(
        "{:<20} CPU median {median_ms:.3} ms (p10 {:.3}, p90 {:.3})",
        operation.name(),
        samples[samples.len() / 10] as f64 / 1e6,
        samples[samples.len() * 9 / 10] as f64 / 1e6
    );
    (median_ms * 1000.0).round() / 1000.0
}

/// The push operations' CPU on the function with push on: the WebSocket events, and sends whose
/// every recipient has a connection (each post answered by the recorder).
async fn push_cpu(lambda: &Lambda, recorder: &PushRecorder, pid: u32, invocations: u32) -> Vec<(Operation, f64)> {
    let event = |kind: &'static str, connection: String, headers: Vec<(&'static str, String)>, body: Option<String>| async move {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let event = lambda_events::websocket_event(kind, &connection, &headers, body.as_deref());
        let reply = lambda_events::invoke_websocket(&lambda.http, &lambda.api, event).await;
        assert_eq!(reply.status, 200, "{kind}: {}", reply.body);
    };
    let connect = |connection: String, token: String| {
        event("CONNECT", connection, vec![("Authorization", format!("Bearer {token}"))], None)
    };
    let (_, alice) = usage::register(lambda, "alice").await;
    let (bob_id, bob) = usage::register(lambda, "bob").await;
    connect("alice=".into(), alice.clone()).await;
    connect("bob=".into(), bob.clone()).await;
    let mut members = Vec::new();
    for i in 0..MeasuredGroup::Large.members() - 1 {
        let (id, token) = usage::register(lambda, &format!("member{i}")).await;
        connect(format!("member{i}="), token.clone()).await;
        members.push((id, token));
    }
    let text = "x".repeat(usage::TEXT_BYTES);
    let mut groups = Vec::new();
    for group in MeasuredGroup::ALL {
        let others = &members[..group.members() - 1];
        let ids: Vec<String> = others.iter().map(|(id, _)| id.clone()).collect();
        let id = usage::group_of(lambda, &alice, &ids).await;
        // In use, as in the scenario without push: every member has sent in it.
        for (_, token) in others {
            let body = Some(json!({ "text": text }));
            let (status, sent) = lambda.call("POST", &format!("/v1/groups/{id}/messages"), Some(token), body).await;
            assert_eq!(status, 201, "{sent}");
        }
        groups.push(id);
    }
    let send = |path: String| {
        let (alice, text) = (alice.clone(), text.clone());
        async move {
            let (status, body) = lambda.call("POST", &path, Some(&alice), Some(json!({ "text": text }))).await;
            assert_eq!(status, 201, "{body}");
        }
    };
    let mut measured = Vec::new();
    let direct = Operation::send(Recipients::Direct, true);
    measured
        .push((direct, cpu_median(pid, invocations, direct, |_| send(format!("/v1/users/{bob_id}/messages"))).await));
    for (group, id) in MeasuredGroup::ALL.into_iter().zip(&groups) {
        let operation = Operation::send(Recipients::Group(group), true);
        measured.push((
            operation,
            cpu_median(pid, invocations, operation, |_| send(format!("/v1/groups/{id}/messages"))).await,
        ));
    }
    assert!(recorder.take().len() > 1000, "the sends were pushed");
    let connect_bob = |i: usize| connect(format!("c{i}="), bob.clone());
    measured.push((Operation::WsConnect, cpu_median(pid, invocations, Operation::WsConnect, connect_bob).await));
    measured.push((
        Operation::WsDisconnect,
        cpu_median(pid, invocations, Operation::WsDisconnect, |i| {
            event("DISCONNECT", format!("c{i}="), Vec::new(), None)
        })
        .await,
    ));
    let ping = r#"{"action":"ping"}"#.to_owned();
    measured.push((
        Operation::WsPing,
        cpu_median(pid, invocations, Operation::WsPing, |_| {
            event("MESSAGE", "bob=".into(), Vec::new(), Some(ping.clone()))
        })
        .await,
    ));
    // A reauth with a token of bob's (the one he has: any valid token of his extends it).
    recorder.take();
    let reauth = json!({ "action": "reauth", "access_token": bob }).to_string();
    measured.push((
        Operation::WsReauth,
        cpu_median(pid, invocations, Operation::WsReauth, |_| {
            event("MESSAGE", "bob=".into(), Vec::new(), Some(reauth.clone()))
        })
        .await,
    ));
    let answers = recorder.take();
    assert_eq!(answers.len(), 20 + invocations as usize);
    assert!(answers.iter().all(|post| post.frame["type"] == "reauthed"), "each reauth was accepted");
    // Resume from just before bob's newest entry: one message frame and `caught_up`.
    let (_, page) = lambda.call("GET", "/v1/messages?limit=500", Some(&bob), None).await;
    let messages = page["messages"].as_array().unwrap().len();
    let (_, before) = lambda.call("GET", &format!("/v1/messages?limit={}", messages - 1), Some(&bob), None).await;
    let resume = json!({ "action": "resume", "after": before["next"] }).to_string();
    recorder.take();
    measured.push((
        Operation::WsResume,
        cpu_median(pid, invocations, Operation::WsResume, |_| {
            event("MESSAGE", "bob=".into(), Vec::new(), Some(resume.clone()))
        })
        .await,
    ));
    assert_eq!(recorder.take().len(), 2 * (20 + invocations as usize), "each resume sent one entry and caught_up");
    measured
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
    let backend = Backend::dynamodb_limited(usage::MEASURED_LIMITS).await.expect("the emulator");
    let mut operations = usage::store_usage(&backend).await;
    let feed_entry_bytes = usage::feed_entry_bytes(&backend).await;
    let (cpu_measured_on, cpu_machine) = match &args.cpu_from {
        Some(path) => {
            let push = usage::store_push_usage(&backend, &operations).await;
            operations.extend(push);
            let (on, machine) = keep_cpu(path, &mut operations);
            (Some(on), Some(machine))
        }
        None => {
            measure_cpu(&args, &dynamodb, &api, &mut operations, &backend).await;
            (None, None)
        }
    };
    let command = match &args.cpu_from {
        Some(path) => format!("cargo xtask measure-usage --cpu-from {}", path.display()),
        None => "cargo xtask measure-usage".into(),
    };
    let measured = MeasuredUsage {
        measured_on: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        command,
        machine: machine(),
        cpu_measured_on,
        cpu_machine,
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

/// The CPU figures of every operation, from the release binary under the Lambda emulator: first
/// as the HTTP API invokes it, then with a push endpoint and WebSocket events. Adds the push
/// operations to `operations`.
async fn measure_cpu(
    args: &Args,
    dynamodb: &str,
    api: &str,
    operations: &mut BTreeMap<Operation, OperationUsage>,
    backend: &Backend,
) {
    let tables = fresh_tables();
    let mut settings = lambda_events::function_settings(dynamodb, &tables);
    // Signing in with the scenario's identity provider, served on loopback.
    let sign_in = usage::SignIn::start().await;
    settings.extend([
        (var::JWT_JWKS_URL.to_owned(), sign_in.provider.jwks_url.clone()),
        (var::JWT_ISSUER.to_owned(), identity_provider::ISSUER.to_owned()),
        (var::JWT_AUDIENCE.to_owned(), identity_provider::AUDIENCE.to_owned()),
    ]);
    settings.extend(usage::measured_limit_vars());
    let created =
        tokio::process::Command::new(&args.runtime).arg("create-tables").envs(settings.clone()).status().await;
    assert!(created.expect("run create-tables").success());
    let mut function = lambda_events::function_command(&args.runtime, api, 128, &settings)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start the function");
    let pid = function.id().expect("running");
    let lambda = Lambda { http: reqwest::Client::new(), api: api.to_owned() };
    tokio::time::timeout(Duration::from_secs(60), lambda.call("GET", "/health", None, None))
        .await
        .expect("the function answers");

    for scenario in usage::operations(&lambda, &sign_in).await {
        let median_ms = cpu_median(pid, args.invocations, scenario.operation, |i| {
            let (lambda, scenario) = (&lambda, &scenario);
            async move {
                scenario.run(i, lambda).await;
            }
        })
        .await;
        operations.get_mut(&scenario.operation).expect("the same operations in-process").lambda_cpu_ms = median_ms;
    }
    // One function at a time serves the emulator's invocations.
    function.kill().await.expect("stop the function");

    // Push: the same function with a push endpoint (a recorder on loopback), every recipient
    // connected, fed WebSocket events as well.
    let recorder = PushRecorder::start().await;
    let mut push_settings = settings.clone();
    push_settings.push((var::PUSH_ENDPOINT.into(), recorder.endpoint.clone()));
    let function = lambda_events::function_command(&args.runtime, &lambda.api, 128, &push_settings)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start the function with push");
    let pid = function.id().expect("running");
    tokio::time::timeout(Duration::from_secs(60), lambda.call("GET", "/health", None, None))
        .await
        .expect("the function answers");
    let mut push_usage = usage::store_push_usage(backend, operations).await;
    for (operation, median_ms) in push_cpu(&lambda, &recorder, pid, args.invocations).await {
        push_usage.get_mut(&operation).expect("the same push operations in-process").lambda_cpu_ms = median_ms;
    }
    operations.extend(push_usage);
}
