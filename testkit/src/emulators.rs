//! The emulators `cargo xtask test` starts, as it tells the tests where they listen. Without one a
//! test is skipped, loudly — except under `CI=true`, where it fails.

use std::time::Duration;

/// Where `cargo xtask test` tells the tests its DynamoDB emulator listens.
pub const DYNAMODB_ENDPOINT_VAR: &str = "MESSAGING_TEST_DYNAMODB_ENDPOINT";
pub const SCHEMATHESIS_VAR: &str = "MESSAGING_TEST_SCHEMATHESIS";
pub const CHAOS_DYNAMODB_ENDPOINT_VAR: &str = "MESSAGING_TEST_CHAOS_DYNAMODB_ENDPOINT";
/// Where it tells them the Lambda Runtime API emulator listens.
pub const LAMBDA_RUNTIME_API_VAR: &str = "MESSAGING_TEST_LAMBDA_RUNTIME_API";

/// The time one store operation may take against the emulator, which answers one request at a
/// time for every test running at once: far slower under the suite's concurrency than DynamoDB.
/// The budget itself is tested through the chaos layer with the real value.
pub const EMULATOR_OPERATION_BUDGET: Duration = Duration::from_secs(180);

/// The DynamoDB emulator's endpoint, or `None` (with a note) when there is none outside CI.
pub fn emulator_endpoint() -> Option<String> {
    emulator(DYNAMODB_ENDPOINT_VAR)
}

/// The Lambda Runtime API emulator (`cargo lambda watch`), as for [`emulator_endpoint`].
pub fn lambda_runtime_api() -> Option<String> {
    emulator(LAMBDA_RUNTIME_API_VAR)
}

/// The emulator the chaos tests put their proxy in front of (one of their own), as for
/// [`emulator_endpoint`].
pub fn chaos_emulator_endpoint() -> Option<String> {
    emulator(CHAOS_DYNAMODB_ENDPOINT_VAR)
}

/// schemathesis' `st` command, as for [`emulator_endpoint`].
pub fn schemathesis() -> Option<String> {
    emulator(SCHEMATHESIS_VAR)
}

fn emulator(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(endpoint) => Some(endpoint),
        Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but {var} is unset: run the tests through `cargo xtask test`, which starts the emulators")
        }
        Err(_) => {
            eprintln!("SKIPPED: no emulator ({var} unset); `cargo xtask test` starts them");
            None
        }
    }
}
