//! `cargo xtask fuzz [--cases N]`: the property tests of every parser and encoder
//! (runtime/tests/properties.rs) with N generated cases each instead of the suite's few hundred,
//! optimised. Not part of `cargo xtask test`: a long run is for looking, not for gating.

use crate::workspace_root;

pub fn run(extra: &[String]) -> Result<(), String> {
    let cases = match extra {
        [] => "100000".to_owned(),
        [flag, n] if flag == "--cases" && n.parse::<u32>().is_ok() => n.clone(),
        _ => return Err("usage: cargo xtask fuzz [--cases N]".into()),
    };
    let mut command = super::cargo();
    command
        .current_dir(workspace_root())
        .args(["test", "--release", "-p", "runtime", "--test", "properties", "--", "--nocapture"])
        .env("PROPTEST_CASES", &cases);
    super::run(command)
}
