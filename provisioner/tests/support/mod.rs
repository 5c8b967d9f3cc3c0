//! What the provisioner tests share: the emulator (moto, started by `cargo xtask test`), a proxy
//! in front of it that records every request and can slow them down, and a way to run the
//! provisioner's commands in-process.
#![allow(dead_code)] // each test file uses its own share of this module

use std::sync::Arc;

use clap::Parser;
use provisioner::aws::Aws;
use provisioner::cli::{AwsOptions, Cli, Command, KeysCommand, Output};
use provisioner::report::{Outcome, Report};
use testkit::proxy::{Forward, Proxy as Shared};

/// The shared loopback proxy, recording every request on its way to the emulator.
pub struct Proxy(Shared);

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        Self(Shared::recording(upstream, Arc::new(Forward)).await)
    }
}

impl std::ops::Deref for Proxy {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The DynamoDB emulator `cargo xtask test` started; moto serves every other service there too.
pub fn emulator() -> Option<String> {
    testkit::emulators::emulator_endpoint()
}

/// Where `cargo xtask test` puts the release runtime it built.
const RELEASE_RUNTIME_VAR: &str = "MESSAGING_TEST_RELEASE_RUNTIME";

/// The release runtime `cargo xtask test` built, or `None` (with a note) outside it — except under
/// `CI=true`, where that fails.
pub fn release_runtime() -> Option<std::path::PathBuf> {
    match std::env::var(RELEASE_RUNTIME_VAR) {
        Ok(path) => Some(std::path::PathBuf::from(path)),
        Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but {RELEASE_RUNTIME_VAR} is unset: run the tests through `cargo xtask test`")
        }
        Err(_) => {
            eprintln!("SKIPPED: no release runtime ({RELEASE_RUNTIME_VAR} unset); `cargo xtask test` builds it");
            None
        }
    }
}

/// A stack name no other test uses.
pub fn fresh_stack() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// A small x86_64 executable that stands in for the runtime where only the deploy is under test
/// (the image test ships the real runtime).
pub const SMALL_BINARY: &str = "/bin/true";

/// Runs `provisioner <args>` in-process against `endpoint`.
pub async fn provisioner(endpoint: &str, stack: &str, args: &[&str]) -> Result<Report, provisioner::Error> {
    let mut argv = vec!["provisioner", "--endpoint-url", endpoint, "--stack", stack];
    argv.extend(args);
    let cli = Cli::try_parse_from(argv).expect("valid arguments");
    let Command::Stack(command) = &cli.command else { panic!("{args:?} is not a stack command") };
    Box::pin(provisioner::run(&cli.aws, command)).await
}

/// Runs `provisioner <args>` for the key ring (`server-key`, `keys rotate`); what it prints.
pub async fn provisioner_keys(endpoint: &str, stack: &str, args: &[&str]) -> Result<String, provisioner::Error> {
    let mut argv = vec!["provisioner", "--endpoint-url", endpoint, "--stack", stack];
    argv.extend(args);
    let cli = Cli::try_parse_from(argv).expect("valid arguments");
    let action = match cli.command {
        Command::ServerKey => provisioner::KeyAction::ServerKey,
        Command::Keys(KeysCommand::Rotate) => provisioner::KeyAction::Rotate,
        // Read from standard input by `main`: tests pass it through `provisioner_set_hs256_secret`.
        _ => panic!("{args:?} is not a key command taking no input"),
    };
    Box::pin(provisioner::keys(&cli.aws, action)).await
}

/// `provisioner keys hs256-secret` with `secret` as its standard input (`None`: `--clear`).
pub async fn provisioner_set_hs256_secret(endpoint: &str, stack: &str, secret: Option<&str>) -> String {
    let argv = ["provisioner", "--endpoint-url", endpoint, "--stack", stack, "keys", "hs256-secret"];
    let cli = Cli::try_parse_from(argv).expect("valid arguments");
    let secret = secret.map(|text| contract::key_ring::Hs256Secret::parse(text).expect("a long enough secret"));
    Box::pin(provisioner::keys(&cli.aws, provisioner::KeyAction::SetHs256Secret(secret))).await.unwrap()
}

/// Every SDK client, straight to the emulator, for checking what the provisioner made.
pub async fn clients(endpoint: &str) -> Aws {
    let options = AwsOptions {
        stack: None,
        region: Some("us-east-1".into()),
        profile: None,
        endpoint_url: Some(endpoint.to_owned()),
        output: Output::Text,
        config: "config/deploy.toml".into(),
    };
    Box::pin(Aws::connect(&options)).await.expect("the emulator answers")
}

pub fn outcomes(report: &Report) -> Vec<(&'static str, Outcome)> {
    report.resources.iter().map(|r| (r.kind, r.outcome)).collect()
}

pub fn outcome_of(report: &Report, kind: &str) -> Vec<Outcome> {
    report.resources.iter().filter(|r| r.kind == kind).map(|r| r.outcome).collect()
}
