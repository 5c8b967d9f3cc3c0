//! The deploy build (`cargo build -p provisioner -p runtime`, what `cargo xtask deploy` runs)
//! must compile every dependency with the features the test suite's build
//! (`cargo test --workspace --all-targets`) compiled it with, or the deploy round trip after the
//! tests compiles the AWS SDK a second time. `workspace-hack/Cargo.toml` keeps them equal; this
//! fails, naming the crates, when a new dev-dependency widens a shared crate's features.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every package with its enabled features, for one package selection.
fn features(selection: &[&str], edges: &str) -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--locked", "--offline", "--prefix", "none", "-e", edges, "-f", "{p}|{f}"])
        .args(selection)
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.trim_end_matches(" (*)").split_once('|'))
        .map(|(package, features)| (package.to_owned(), features.to_owned()))
        .collect()
}

#[test]
fn the_deploy_build_reuses_the_test_builds_dependencies() {
    let deploy = features(&["-p", "provisioner", "-p", "runtime"], "normal,build");
    let tests = features(&["--workspace"], "normal,build,dev");
    let differing: Vec<String> = deploy
        .iter()
        .filter(|(package, _)| !package.contains("(/")) // the workspace's own crates build anyway
        .filter_map(|(package, wanted)| match tests.get(package) {
            Some(tested) if tested == wanted => None,
            tested => Some(format!("{package}: deploy [{wanted}], tests [{}]", tested.map_or("absent", |f| f))),
        })
        .collect();
    assert!(
        differing.is_empty(),
        "add the test build's features to workspace-hack/Cargo.toml:\n{}",
        differing.join("\n")
    );
}
