//! The emulators the tests need, installed into `target/emulators` and started on loopback by
//! the project itself: nothing to install by hand.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Pinned, so every machine tests against the same emulator.
const MOTO: &str = "moto[server]==5.2.5";

/// A running moto server; stopped when dropped.
pub struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    pub fn start(root: &Path) -> Result<Self, String> {
        let dir = root.join("target/emulators");
        let python = venv(&dir)?;
        let installed = dir.join("venv/.installed");
        if std::fs::read_to_string(&installed).ok().as_deref() != Some(MOTO) {
            let mut pip = Command::new(&python);
            pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", MOTO]);
            super::run(pip)?;
            std::fs::write(&installed, MOTO).map_err(|e| e.to_string())?;
        }
        let addr = free_loopback_port()?;
        let log = std::fs::File::create(dir.join("moto.log")).map_err(|e| e.to_string())?;
        let script = root.join("xtask/moto_serial.py");
        eprintln!(
            "$ {} {} {} {}  (DynamoDB emulator, log in target/emulators/moto.log)",
            python.display(),
            script.display(),
            addr.ip(),
            addr.port()
        );
        let child = Command::new(&python)
            .arg(&script)
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start moto: {e}"))?;
        let mut moto = Self { child, addr };
        moto.wait_until_listening()?;
        Ok(moto)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn wait_until_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("moto exited at start ({status}); see target/emulators/moto.log"));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("moto did not listen within 60 s".into())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The venv's python, creating the venv with the machine's python3 if needed.
fn venv(dir: &Path) -> Result<PathBuf, String> {
    let python = dir.join("venv/bin/python");
    if !python.exists() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let mut create = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()));
        create.arg("-m").arg("venv").arg(dir.join("venv"));
        super::run(create)?;
    }
    Ok(python)
}

fn free_loopback_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}
