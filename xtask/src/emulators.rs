//! The emulators the tests need, installed (pinned) into a venv under `target/emulators` and
//! started on free loopback ports by the project itself: nothing to install by hand.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Pinned, so every machine tests against the same emulators. cargo-lambda brings zig.
pub const EMULATOR_PACKAGES: &[&str] = &["moto[server]==5.2.5", "cargo-lambda==1.9.2"];
/// In a venv of its own: its dependencies must not move moto's.
pub const SCHEMATHESIS_PACKAGES: &[&str] = &["schemathesis==4.32.5"];

/// A running emulator; stopped when dropped.
pub struct Emulator {
    child: Child,
    pub addr: SocketAddr,
}

impl Emulator {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn start(name: &str, root: &Path, mut command: Command, addr: SocketAddr) -> Result<Self, String> {
        let log_path = root.join(format!("target/emulators/{name}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        command.current_dir(root).stdin(Stdio::null()).stdout(log.try_clone().map_err(|e| e.to_string())?).stderr(log);
        eprintln!("$ {}  ({name}, log in {})", format!("{command:?}").replace('"', ""), log_path.display());
        let child = command.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        let mut emulator = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = emulator.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("{name} exited at start ({status}); see {}", log_path.display()));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(emulator);
            }
            if Instant::now() > deadline {
                return Err(format!("{name} did not listen on {addr} within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A venv under `target/emulators` holding pinned tools, created and filled on first use.
pub struct Venv {
    pub bin: PathBuf,
}

impl Venv {
    pub fn ensure(root: &Path, name: &str, packages: &[&str]) -> Result<Self, String> {
        let dir = root.join("target/emulators").join(name);
        let bin = dir.join("bin");
        if !bin.join("python").exists() {
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let mut create = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()));
            create.arg("-m").arg("venv").arg(&dir);
            super::run(create)?;
        }
        let marker = dir.join(".installed");
        let wanted = packages.join(" ");
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
            let mut pip = Command::new(bin.join("python"));
            pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(packages);
            super::run(pip)?;
            std::fs::write(&marker, wanted).map_err(|e| e.to_string())?;
        }
        Ok(Self { bin })
    }

    /// moto's server, one request at a time (see xtask/moto_serial.py): DynamoDB for the store,
    /// and ECR, IAM, Lambda, API Gateway v2, CloudWatch Logs and STS for the provisioner. Lambda
    /// checks that a function's image exists in ECR, as AWS does.
    pub fn moto(&self, root: &Path) -> Result<Emulator, String> {
        self.moto_named("moto", root, &[("MOTO_LAMBDA_STUB_ECR", "false")])
    }

    /// A moto of its own for the DynamoDB chaos tests: they make far more requests than the rest,
    /// and moto copies the tables it holds on every transaction, so they would slow every other
    /// test down sharing one.
    pub fn moto_for_chaos(&self, root: &Path) -> Result<Emulator, String> {
        self.moto_named("moto-chaos", root, &[])
    }

    /// A second moto that enforces IAM policies on every request after its first three (which
    /// the access-denied test spends on making a restricted identity).
    pub fn moto_enforcing_iam(&self, root: &Path) -> Result<Emulator, String> {
        self.moto_named("moto-iam", root, &[("INITIAL_NO_AUTH_ACTION_COUNT", "3")])
    }

    fn moto_named(&self, name: &str, root: &Path, env: &[(&str, &str)]) -> Result<Emulator, String> {
        let addr = free_loopback_port()?;
        let mut command = Command::new(self.bin.join("python"));
        command.arg(root.join("xtask/moto_serial.py")).arg(addr.ip().to_string()).arg(addr.port().to_string());
        command.envs(env.iter().copied());
        Emulator::start(name, root, command, addr)
    }

    /// `cargo lambda watch --only-lambda-apis`: the Lambda Runtime API emulator, without building
    /// or starting a function (the tests start the runtime binary themselves).
    pub fn lambda_runtime_api(&self, root: &Path) -> Result<Emulator, String> {
        let addr = free_loopback_port()?;
        let mut command = Command::new(self.bin.join("cargo-lambda"));
        command.args(["lambda", "watch", "--only-lambda-apis", "--invoke-address"]);
        command.arg(addr.ip().to_string()).arg("--invoke-port").arg(addr.port().to_string());
        Emulator::start("cargo-lambda", root, command, addr)
    }
}

fn free_loopback_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}
