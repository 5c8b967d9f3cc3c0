//! `cargo xtask deploy [-- <provisioner deploy options>]`: builds the runtime for Lambda (release,
//! x86_64 Linux, the only target this toolchain has) and the provisioner, then runs
//! `provisioner deploy --binary <the built runtime>` with the given options.

use crate::workspace_root;

pub fn run(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let mut build = super::cargo();
    build.current_dir(&root).args(["build", "--release", "-p", "runtime", "-p", "provisioner"]);
    super::run(build)?;
    let release = root.join("target/release");
    let options = extra.strip_prefix(&["--".to_owned()]).unwrap_or(extra);
    let mut deploy = std::process::Command::new(release.join("provisioner"));
    deploy.current_dir(&root).arg("deploy").arg("--binary").arg(release.join("runtime")).args(options);
    super::run(deploy)
}
