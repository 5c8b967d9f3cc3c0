//! `cargo xtask measure-usage [harness options]`: measures what each API operation costs and
//! writes `config/usage.toml` for the cost report (see tests/src/bin/measure-usage.rs). Starts
//! the emulators and builds the release runtime first.

use crate::emulators::{EMULATOR_PACKAGES, Venv};
use crate::workspace_root;

pub fn run(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let venv = Venv::ensure(&root, "venv", EMULATOR_PACKAGES)?;
    let (moto, lambda) = (venv.moto(&root)?, venv.lambda_runtime_api(&root)?);
    let mut release = super::cargo();
    release.current_dir(&root).args(["build", "--release", "-p", "runtime"]);
    super::run(release)?;
    let mut harness = super::cargo();
    harness
        .current_dir(&root)
        .args(["run", "-p", "messaging-tests", "--bin", "measure-usage", "--", "--runtime"])
        .arg(root.join("target/release/runtime"))
        .arg("--out")
        .arg(root.join("config/usage.toml"))
        .args(extra);
    super::test::emulator_environment(&mut harness, moto.url()).env("MESSAGING_TEST_LAMBDA_RUNTIME_API", lambda.url());
    super::run(harness)
}
