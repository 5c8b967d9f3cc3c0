//! The TypeScript client's checks in `cargo xtask test`: its Node packages (npm, pinned by its
//! lock file) and Debian's Chromium, installed by the project itself; its generated types compared
//! with the server's OpenAPI document; then `npm test` — the client against the real server, the
//! AWS WebSocket protocol through the API Gateway stand-in, and the demo page in Chromium.

use std::path::Path;
use std::process::Command;

/// Where the browser test finds Chromium (Debian's package `chromium`).
const CHROMIUM: &str = "/usr/bin/chromium";
/// Read by the client's tests (clients/typescript/test/).
const RUNTIME_VAR: &str = "MESSAGING_RUNTIME_BIN";
const GATEWAY_VAR: &str = "MESSAGING_TEST_API_GATEWAY_BIN";
const CHROMIUM_VAR: &str = "MESSAGING_TEST_CHROMIUM";

/// Runs the client's checks; `aws` is the emulator environment for the Lambda path, when the
/// emulators run. Without CI, a machine lacking Node or Chromium skips what needs them, loudly.
pub fn run(root: &Path, ci: bool, aws: Option<&[(&str, String)]>) -> Result<(), String> {
    let package = root.join("clients/typescript");
    if let Err(error) = super::output(node_command("npm", &package, &["--version"])) {
        return skip(ci, format!("npm is needed for the TypeScript client's tests: {error}"));
    }
    if let Err(error) = ensure_chromium() {
        if ci {
            return Err(format!("Chromium is required under CI=true: {error}"));
        }
        eprintln!("xtask: warning: {error}\nxtask: the demo page's browser test will be skipped");
    }
    super::run(node_command("npm", &package, &["ci", "--no-audit", "--no-fund"]))?;
    let document = root.join("target/openapi.json");
    let mut print = Command::new(root.join("target/debug/runtime"));
    print.arg("openapi");
    let openapi = super::output(print)?;
    std::fs::write(&document, openapi).map_err(|e| format!("writing {}: {e}", document.display()))?;
    let mut check = node_command("npm", &package, &["run", "check-generated"]);
    check.env("OPENAPI", &document);
    super::run(check).map_err(|e| {
        format!("{e}\nthe client's types differ from the server's OpenAPI document: run `npm run generate` in clients/typescript")
    })?;
    let mut test = node_command("npm", &package, &["test"]);
    test.env(RUNTIME_VAR, root.join("target/debug/runtime")).env(CHROMIUM_VAR, CHROMIUM);
    if let Some(aws) = aws {
        test.env(GATEWAY_VAR, root.join("target/debug/api-gateway")).envs(aws.iter().map(|(k, v)| (k, v)));
    }
    super::run(test)
}

fn skip(ci: bool, why: String) -> Result<(), String> {
    if ci {
        return Err(format!("{why} (required under CI=true)"));
    }
    eprintln!("xtask: warning: {why}; skipped");
    Ok(())
}

fn node_command(program: &str, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir).args(args);
    command
}

/// Debian's Chromium, installed with apt-get when missing (as moto is installed with pip).
fn ensure_chromium() -> Result<(), String> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    super::run(update)?;
    let mut install = Command::new("apt-get");
    install.args(["install", "-y", "-qq", "chromium"]).env("DEBIAN_FRONTEND", "noninteractive");
    super::run(install)?;
    if Path::new(CHROMIUM).exists() {
        Ok(())
    } else {
        Err(format!("apt-get installed chromium, but {CHROMIUM} is missing"))
    }
}
