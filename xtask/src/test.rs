//! `cargo xtask test [extra cargo test args]`: the whole test suite, with the emulators it needs.

use crate::emulators::Moto;
use crate::workspace_root;

/// Read by the test suites (tests/src/backend.rs) to find the DynamoDB emulator.
const DYNAMODB_ENDPOINT_VAR: &str = "MESSAGING_TEST_DYNAMODB_ENDPOINT";

pub fn run(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let moto = match Moto::start(&root) {
        Ok(moto) => Some(moto),
        Err(error) if ci => return Err(format!("the DynamoDB emulator is required under CI=true: {error}")),
        Err(error) => {
            eprintln!("xtask: warning: {error}\nxtask: the DynamoDB tests will be skipped");
            None
        }
    };
    let mut command = super::cargo();
    command.current_dir(&root).args(["test", "--workspace", "--all-targets"]).args(extra);
    if let Some(moto) = &moto {
        // Fixed fake credentials: the emulator accepts any, and nothing may reach AWS.
        command
            .env(DYNAMODB_ENDPOINT_VAR, moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    }
    super::run(command)
}
