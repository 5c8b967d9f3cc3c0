//! `cargo xtask <task>`: the project's own automation, in Rust so it runs wherever cargo does.

mod bench;
mod deploy;
mod emulators;
mod fuzz;
mod measure;
mod soak;
mod test;
mod typescript;

use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test    run every test of the workspace (what CI runs)
  bench   build the release runtime and run the benchmark scenarios (--help for options)
  deploy  build the runtime for Lambda and deploy it to AWS (options after -- go to `provisioner deploy`)
  measure-usage  measure what each API operation costs (DynamoDB, Lambda CPU, bytes) into config/usage.toml
  fuzz    the property tests of the parsers and encoders with --cases N each (default 100000)
  soak    kill -9 the runtime at random moments of concurrent sends, --cycles N times (default 200)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("deploy") => deploy::run(&args[1..]),
        Some("measure-usage") => measure::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task '{other}'\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

/// `cargo`, as the one that invoked us (so toolchain overrides carry through).
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `command`, echoing it first, and returns its standard output; fails on a non-zero exit.
fn output(mut command: Command) -> Result<String, String> {
    let shown = format!("{command:?}").replace('"', "");
    eprintln!("$ {shown}");
    let output =
        command.stderr(std::process::Stdio::inherit()).output().map_err(|e| format!("cannot start {shown}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("{shown} failed: {}", output.status))
    }
}

/// Runs `command`, echoing it first, and fails on a non-zero exit.
fn run(mut command: Command) -> Result<(), String> {
    let shown = format!("{command:?}").replace('"', "");
    eprintln!("$ {shown}");
    let status = command.status().map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed: {status}")) }
}
