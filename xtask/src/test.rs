//! `cargo xtask test [extra cargo test args]`: the whole test suite.

use std::path::PathBuf;

pub fn run(extra: &[String]) -> Result<(), String> {
    let mut command = super::cargo();
    command.current_dir(workspace_root()).args(["test", "--workspace", "--all-targets"]).args(extra);
    super::run(command)
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}
