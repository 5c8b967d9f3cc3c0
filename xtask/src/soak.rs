//! `cargo xtask soak [--cycles N]`: the suite's kill -9 test (tests/src/crash.rs) for as many
//! cycles as wanted, on the release runtime.

use crate::workspace_root;

pub fn run(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let mut release = super::cargo();
    release.current_dir(&root).args(["build", "--release", "-p", "runtime"]);
    super::run(release)?;
    let mut soak = super::cargo();
    soak.current_dir(&root)
        .args(["run", "-p", "messaging-tests", "--bin", "soak", "--", "--binary"])
        .arg(root.join("target/release/runtime"))
        .args(extra);
    super::run(soak)
}
