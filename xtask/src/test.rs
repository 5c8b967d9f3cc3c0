//! `cargo xtask test [extra cargo test args]`: the whole test suite, with the emulators it needs.

use crate::emulators::{Emulator, Venv};
use crate::workspace_root;

/// Read by the tests (tests/src/backend.rs) to find the emulators.
const DYNAMODB_ENDPOINT_VAR: &str = "MESSAGING_TEST_DYNAMODB_ENDPOINT";
const LAMBDA_RUNTIME_API_VAR: &str = "MESSAGING_TEST_LAMBDA_RUNTIME_API";

pub fn run(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let started = Venv::ensure(&root).and_then(|venv| Ok((venv.moto(&root)?, venv.lambda_runtime_api(&root)?)));
    let emulators: Option<(Emulator, Emulator)> = match started {
        Ok(emulators) => Some(emulators),
        Err(error) if ci => return Err(format!("the emulators are required under CI=true: {error}")),
        Err(error) => {
            eprintln!("xtask: warning: {error}\nxtask: the DynamoDB and Lambda tests will be skipped");
            None
        }
    };
    let mut command = super::cargo();
    command.current_dir(&root).args(["test", "--workspace", "--all-targets"]).args(extra);
    if let Some((moto, lambda)) = &emulators {
        // Fixed fake credentials: the emulators accept any, and nothing may reach AWS.
        command
            .env(DYNAMODB_ENDPOINT_VAR, moto.url())
            .env(LAMBDA_RUNTIME_API_VAR, lambda.url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    }
    super::run(command)
}
