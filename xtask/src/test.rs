//! `cargo xtask test [extra cargo test args]`: the whole test suite, with the emulators it needs,
//! then the TypeScript client's (`clients/typescript`), then `cargo xtask deploy` itself against
//! the emulator.

use std::process::Command;

use crate::emulators::{EMULATOR_PACKAGES, Emulator, SCHEMATHESIS_PACKAGES, Venv};
use crate::workspace_root;

/// Read by the tests (tests/src/backend.rs, provisioner/tests) to find the emulators.
const DYNAMODB_ENDPOINT_VAR: &str = "MESSAGING_TEST_DYNAMODB_ENDPOINT";
const CHAOS_DYNAMODB_ENDPOINT_VAR: &str = "MESSAGING_TEST_CHAOS_DYNAMODB_ENDPOINT";
const LAMBDA_RUNTIME_API_VAR: &str = "MESSAGING_TEST_LAMBDA_RUNTIME_API";
const MOTO_AUTH_ENDPOINT_VAR: &str = "MESSAGING_TEST_MOTO_AUTH_ENDPOINT";
/// The release runtime the image test ships (a debug build is ten times larger).
const RELEASE_RUNTIME_VAR: &str = "MESSAGING_TEST_RELEASE_RUNTIME";
/// schemathesis' `st`, for the generated-input test.
const SCHEMATHESIS_VAR: &str = "MESSAGING_TEST_SCHEMATHESIS";

struct Emulators {
    moto: Emulator,
    lambda: Emulator,
    moto_iam: Emulator,
    moto_chaos: Emulator,
    schemathesis: std::path::PathBuf,
}

pub fn run(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let started = Venv::ensure(&root, "venv", EMULATOR_PACKAGES).and_then(|venv| {
        Ok(Emulators {
            moto: venv.moto(&root)?,
            lambda: venv.lambda_runtime_api(&root)?,
            moto_iam: venv.moto_enforcing_iam(&root)?,
            moto_chaos: venv.moto_for_chaos(&root)?,
            schemathesis: Venv::ensure(&root, "schemathesis", SCHEMATHESIS_PACKAGES)?.bin.join("st"),
        })
    });
    let emulators = match started {
        Ok(emulators) => Some(emulators),
        Err(error) if ci => return Err(format!("the emulators are required under CI=true: {error}")),
        Err(error) => {
            eprintln!("xtask: warning: {error}\nxtask: the DynamoDB, Lambda and provisioner tests will be skipped");
            None
        }
    };
    let mut command = super::cargo();
    command.current_dir(&root).args(["test", "--workspace", "--all-targets"]).args(extra);
    if ci {
        // A fresh clone never reuses incremental state; it only costs disk (about 2 GB) there.
        command.env("CARGO_INCREMENTAL", "0");
    }
    if let Some(emulators) = &emulators {
        let mut release = super::cargo();
        release.current_dir(&root).args(["build", "--release", "-p", "runtime"]);
        super::run(release)?;
        emulator_environment(&mut command, emulators.moto.url())
            .env(LAMBDA_RUNTIME_API_VAR, emulators.lambda.url())
            .env(MOTO_AUTH_ENDPOINT_VAR, emulators.moto_iam.url())
            .env(CHAOS_DYNAMODB_ENDPOINT_VAR, emulators.moto_chaos.url())
            .env(RELEASE_RUNTIME_VAR, root.join("target/release/runtime"))
            .env(SCHEMATHESIS_VAR, &emulators.schemathesis);
    }
    super::run(command)?;
    let aws = emulators.as_ref().map(|emulators| {
        vec![
            (DYNAMODB_ENDPOINT_VAR, emulators.moto.url()),
            (LAMBDA_RUNTIME_API_VAR, emulators.lambda.url()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    });
    crate::typescript::run(&root, ci, aws.as_deref())?;
    match &emulators {
        Some(emulators) => deploy_round_trip(&emulators.moto.url()),
        None => Ok(()),
    }
}

/// The emulators' addresses and fixed fake credentials: the emulators accept any, and nothing
/// may reach AWS.
pub fn emulator_environment(command: &mut Command, moto: String) -> &mut Command {
    command
        .env(DYNAMODB_ENDPOINT_VAR, moto)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// The README's deploy commands, exactly, against moto: `cargo xtask deploy` twice (the second
/// must change nothing), `provisioner status`, `provisioner destroy --yes`, and `status` again,
/// which must then find nothing.
fn deploy_round_trip(moto: &str) -> Result<(), String> {
    let root = workspace_root();
    let stack = "xtask-round-trip";
    let xtask = |args: &[&str]| {
        let mut command = super::cargo();
        command.current_dir(&root).args(["xtask", "deploy", "--", "--endpoint-url", moto, "--stack", stack]).args(args);
        emulator_environment(&mut command, moto.to_owned());
        command
    };
    let provisioner = |args: &[&str]| {
        let mut command = Command::new(root.join("target/debug/provisioner"));
        command.current_dir(&root).args(["--endpoint-url", moto, "--stack", stack]).args(args);
        emulator_environment(&mut command, moto.to_owned());
        command
    };
    super::run(xtask(&[]))?;
    let again = super::output(xtask(&["--output", "json"]))?;
    if ["\"created\"", "\"updated\""].iter().any(|o| again.contains(o)) || !again.contains("\"endpoint\"") {
        return Err(format!("a second deploy changed something:\n{again}"));
    }
    super::run(provisioner(&["status"]))?;
    super::run(provisioner(&["destroy", "--yes"]))?;
    match provisioner(&["status"]).status() {
        Ok(status) if status.code() == Some(1) => {
            eprintln!(
                "xtask: deploy round trip passed: deploy, deploy (unchanged), status, destroy, status (nothing left)"
            );
            Ok(())
        }
        other => Err(format!("status after destroy should report everything missing (exit 1), got {other:?}")),
    }
}
