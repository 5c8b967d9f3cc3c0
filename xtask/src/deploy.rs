//! `cargo xtask deploy [-- <provisioner deploy options>]`: builds the runtime for Lambda (release,
//! x86_64 Linux, the only target this toolchain has) and the provisioner, then runs
//! `provisioner deploy --binary <the built runtime>` with the given options.

use crate::workspace_root;

pub fn run(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let mut runtime = super::cargo();
    runtime.current_dir(&root).args(["build", "--release", "-p", "runtime"]);
    super::run(runtime)?;
    // The provisioner in the dev profile: it only makes AWS calls, and the test suite has built
    // it already (its hashing and compression crates are optimised even there, see Cargo.toml).
    // Built beside the runtime: cargo enables a shared dependency's features by the
    // packages it builds, and the provisioner alone (which no longer links the runtime) asks for
    // fewer than the test suite did, which would compile its whole tree a second time.
    let mut provisioner = super::cargo();
    provisioner.current_dir(&root).args(["build", "-p", "provisioner", "-p", "runtime"]);
    super::run(provisioner)?;
    let options = extra.strip_prefix(&["--".to_owned()]).unwrap_or(extra);
    let mut deploy = std::process::Command::new(root.join("target/debug/provisioner"));
    deploy.current_dir(&root).arg("deploy").arg("--binary").arg(root.join("target/release/runtime")).args(options);
    super::run(deploy)
}
