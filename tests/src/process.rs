//! The real `runtime` binary as a child process on a free loopback port.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Server {
    /// Starts `binary serve --listen 127.0.0.1:0 <args>` and waits for its "listening on" line.
    pub async fn start(binary: &Path, args: &[&OsStr]) -> Self {
        let mut command = Command::new(binary);
        command.env("RUST_LOG", "warn");
        Self::start_command(command, args).await
    }

    /// As [`Server::start`], with the log filter given (`None`: the binary's default) and the log
    /// written to `log`.
    pub async fn start_logging(binary: &Path, args: &[&OsStr], filter: Option<&str>, log: std::fs::File) -> Self {
        let mut command = Command::new(binary);
        match filter {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        command.stderr(log);
        Self::start_command(command, args).await
    }

    /// As [`Server::start`], with the shared limits of `config/default.toml` on. Every other
    /// start turns them off (the tests of other features send and register far faster than a
    /// person does); a test of a limit sets it with its flag, which wins over the environment.
    pub async fn start_limited(binary: &Path, args: &[&OsStr]) -> Self {
        let mut command = Command::new(binary);
        command.env("RUST_LOG", "warn");
        Self::spawn(command, args).await
    }

    async fn start_command(mut command: Command, args: &[&OsStr]) -> Self {
        command.envs(limits_off());
        Self::spawn(command, args).await
    }

    async fn spawn(mut command: Command, args: &[&OsStr]) -> Self {
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove(contract::env::var::TOKEN_KEY)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the runtime binary");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server printed its address in time")
            .unwrap()
            .expect("the server printed a line");
        let base = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line: {line}"));
        Self { child, base: base.to_owned() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a user called `name`: its id and token.
    pub async fn register(&self, http: &reqwest::Client, name: &str) -> (String, String) {
        let api = crate::transport::Http { client: http.clone(), base: self.base.clone() };
        crate::transport::register(&api, name).await
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill_hard(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// Every `[limits]` rule off, as environment variables.
pub fn limits_off() -> Vec<(&'static str, &'static str)> {
    runtime::domain::Rule::ALL.into_iter().map(|rule| (rule.variable(), "0")).collect()
}
