//! `cargo xtask bench [bench options]`: builds the release runtime and the load generator, then
//! runs every scenario. Options go to the harness (`cargo xtask bench --help`).

use crate::workspace_root;

pub fn run(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let mut build = super::cargo();
    build.current_dir(&root).args(["build", "--release", "-p", "runtime", "-p", "bench"]);
    super::run(build)?;
    let release = root.join("target/release");
    let mut bench = std::process::Command::new(release.join("bench"));
    let command_line = std::iter::once("cargo xtask bench".to_owned()).chain(extra.iter().cloned()).collect::<Vec<_>>();
    bench
        .current_dir(&root)
        .arg("--runtime")
        .arg(release.join("runtime"))
        .arg("--out")
        .arg(root.join("target/bench"))
        .arg("--command-line")
        .arg(command_line.join(" "))
        .args(extra);
    super::run(bench)
}
