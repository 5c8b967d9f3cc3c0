//! What the provisioner tests share: the emulator (moto, started by `cargo xtask test`), a proxy
//! in front of it that records every request and can slow them down, and a way to run the
//! provisioner's commands in-process.
#![allow(dead_code)] // each test file uses its own share of this module

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use clap::Parser;
use provisioner::aws::Aws;
use provisioner::cli::{AwsOptions, Cli, Command, Output};
use provisioner::report::{Outcome, Report};

/// One request as the provisioner sent it, and the emulator's answer.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `UploadLayerPart`, `CreateRole`, or `POST /2015-03-31/functions` for REST services.
    pub operation: String,
    pub body: Bytes,
    pub response: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

pub struct Proxy {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    delay_ms: Arc<AtomicU64>,
}

impl Proxy {
    /// A loopback proxy in front of `upstream` that records everything passing through.
    pub async fn start(upstream: &str) -> Self {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let delay_ms: Arc<AtomicU64> = Arc::default();
        let (log, delay, upstream, http) =
            (requests.clone(), delay_ms.clone(), upstream.to_owned(), reqwest::Client::new());
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (log, delay, upstream, http) = (log.clone(), delay.clone(), upstream.clone(), http.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(delay.load(Ordering::SeqCst))).await;
                let operation = operation(&method, &uri, &headers, &body);
                let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let mut forward = http.request(method, format!("{upstream}{path}")).body(body.clone());
                for (name, value) in &headers {
                    if name != "host" && name != "content-length" {
                        forward = forward.header(name, value);
                    }
                }
                let response = forward.send().await.expect("the emulator answers");
                let (status, mut headers) = (response.status(), response.headers().clone());
                headers.remove("content-length");
                headers.remove("transfer-encoding");
                let answer = response.bytes().await.unwrap();
                log.lock().unwrap().push(Recorded { operation, body, response: answer.clone() });
                (status, headers, answer)
            }
        });
        // Layer parts are megabytes: no body limit.
        let app = app.layer(axum::extract::DefaultBodyLimit::disable());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, requests, delay_ms }
    }

    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.requests.lock().unwrap())
    }

    pub fn slow_down(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

/// The operation a request calls, whichever of AWS's protocols it uses.
fn operation(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|t| t.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let form = String::from_utf8_lossy(body);
    if let Some(action) = form.split('&').find_map(|p| p.strip_prefix("Action=")) {
        return action.to_owned();
    }
    format!("{method} {}", uri.path())
}

/// The DynamoDB emulator `cargo xtask test` started; moto serves every other service there too.
pub fn emulator() -> Option<String> {
    messaging_tests::backend::emulator_endpoint()
}

/// A stack name no other test uses.
pub fn fresh_stack() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// A small x86_64 executable that stands in for the runtime where only the deploy is under test
/// (the image test ships the real runtime).
pub const SMALL_BINARY: &str = "/bin/true";

/// Runs `provisioner <args>` in-process against `endpoint`.
pub async fn provisioner(endpoint: &str, stack: &str, args: &[&str]) -> Result<Report, provisioner::Error> {
    let mut argv = vec!["provisioner", "--endpoint-url", endpoint, "--stack", stack];
    argv.extend(args);
    let cli = Cli::try_parse_from(argv).expect("valid arguments");
    let Command::Stack(command) = &cli.command else { panic!("{args:?} is not a stack command") };
    Box::pin(provisioner::run(&cli.aws, command)).await
}

/// Every SDK client, straight to the emulator, for checking what the provisioner made.
pub async fn clients(endpoint: &str) -> Aws {
    let options = AwsOptions {
        stack: None,
        region: Some("us-east-1".into()),
        profile: None,
        endpoint_url: Some(endpoint.to_owned()),
        output: Output::Text,
        config: "config/deploy.toml".into(),
    };
    Box::pin(Aws::connect(&options)).await.expect("the emulator answers")
}

pub fn outcomes(report: &Report) -> Vec<(&'static str, Outcome)> {
    report.resources.iter().map(|r| (r.kind, r.outcome)).collect()
}

pub fn outcome_of(report: &Report, kind: &str) -> Vec<Outcome> {
    report.resources.iter().filter(|r| r.kind == kind).map(|r| r.outcome).collect()
}
