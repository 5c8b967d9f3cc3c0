//! `cargo xtask test [extra cargo test args]`: the whole test suite.

use crate::workspace_root;

pub fn run(extra: &[String]) -> Result<(), String> {
    let mut command = super::cargo();
    command.current_dir(workspace_root()).args(["test", "--workspace", "--all-targets"]).args(extra);
    super::run(command)
}
