//! `provisioner smoke`: drives a running deployment end to end as two clients would — users, a
//! direct and a group message, polls with cursors, a stream that resumes and then gets pushes, a
//! forged token refused — and removes the users it made. Each step is timed; the run stops at the
//! first failure (what follows would fail for the same reason), then cleans up.

mod http;
mod stream;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hyper::{Method, StatusCode};
use rustls::ClientConfig;
use serde::Serialize;
use serde_json::{Value, json};

use self::http::{Answer, Api, Auth};
use self::stream::{Stream, message_ids};

/// What to test.
pub struct Target {
    /// The HTTP API's base URL.
    pub http: String,
    /// The stream's URL: the WebSocket API's stage, or a local server's `/v1/stream`.
    pub stream: Option<String>,
    /// The server key: users are made (and erased) through the server API. Without it they
    /// register openly, which a deployment in `app` mode refuses, and stay.
    pub server_key: Option<String>,
}

impl Target {
    /// A local server (or any deployment) at `url`, its stream at `<url>/v1/stream`.
    pub fn at(url: &str, server_key: Option<String>) -> Self {
        let http = url.trim_end_matches('/').to_owned();
        let stream = http.replacen("http", "ws", 1) + "/v1/stream";
        Self { http, stream: Some(stream), server_key }
    }
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct SmokeReport {
    pub target: String,
    pub steps: Vec<Step>,
}

impl SmokeReport {
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed)
    }
}

impl fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<16} {:<7} {:>10}  detail", "step", "result", "latency")?;
        for step in &self.steps {
            let result = if step.passed { "ok" } else { "FAILED" };
            let latency = step.latency_ms.map_or(String::new(), |ms| format!("{ms:.1} ms"));
            writeln!(f, "{:<16} {result:<7} {latency:>10}  {}", step.step, step.detail)?;
        }
        let passed = self.steps.iter().filter(|s| s.passed).count();
        let verdict = if self.passed() { "passed" } else { "FAILED" };
        writeln!(f, "smoke test of {}: {verdict} ({passed} of {} steps)", self.target, self.steps.len())
    }
}

/// A user the run made: its id, its token, and its app id when made through the server API.
struct User {
    id: String,
    token: String,
    app_id: Option<String>,
}

/// A step's result: how long its requests took and what to show, or why it failed.
type Outcome = Result<(Duration, String), String>;

struct Run<'a> {
    target: &'a Target,
    api: Api,
    tls: Arc<ClientConfig>,
    timeout: Duration,
    /// Unique to this run, so its users and client ids are its own.
    tag: String,
    steps: Vec<Step>,
    made: Vec<User>,
}

/// Runs the smoke test against `target`, waiting at most `timeout` for each answer or push.
pub async fn run(target: &Target, timeout: Duration) -> SmokeReport {
    let mut steps = Vec::new();
    let needs_tls =
        target.http.starts_with("https:") || target.stream.as_deref().is_some_and(|s| s.starts_with("wss:"));
    match http::tls_config(needs_tls) {
        Ok(tls) => {
            let api = Api::new(&target.http, tls.clone(), timeout);
            let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
            let tag = format!("{:x}", nanos % (1 << 48));
            let mut run = Run { target, api, tls, timeout, tag, steps, made: Vec::new() };
            let stream = run.scenario().await;
            if let Some(stream) = stream {
                stream.close().await;
            }
            run.clean_up().await;
            steps = run.steps;
        }
        Err(error) => steps.push(Step { step: "tls", passed: false, latency_ms: None, detail: error }),
    }
    SmokeReport { target: target.http.clone(), steps }
}

impl Run<'_> {
    /// Records a step; `false` when it failed.
    fn record(&mut self, step: &'static str, outcome: Outcome) -> bool {
        let (passed, latency_ms, detail) = match outcome {
            Ok((took, detail)) => (true, Some((took.as_secs_f64() * 10_000.0).round() / 10.0), detail),
            Err(detail) => (false, None, detail),
        };
        self.steps.push(Step { step, passed, latency_ms, detail });
        passed
    }

    async fn call(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Result<Answer, String> {
        self.api.call(method, path, auth, body).await
    }

    /// Every step in order, up to the first failure; the stream it opened, for closing.
    async fn scenario(&mut self) -> Option<Stream> {
        let health = self.health().await;
        if !self.record("health", health) {
            return None;
        }
        let users = self.users().await;
        let (a, b) = match users {
            Ok((took, a, b)) => {
                let detail = format!("{} and {}", a.id, b.id);
                self.made.extend([a, b]);
                self.record("users", Ok((took, detail)));
                (0, 1)
            }
            Err(error) => {
                self.record("users", Err(error));
                return None;
            }
        };
        let (a_token, b_id, b_token) =
            (self.made[a].token.clone(), self.made[b].id.clone(), self.made[b].token.clone());
        let started = Instant::now();
        let mut stream = match self.open_stream(&b_token).await {
            Ok(stream) => stream,
            Err(error) => {
                self.record("stream", Err(error));
                return None;
            }
        };
        if !self.record("stream", Ok((started.elapsed(), "connected, resumed, caught up".into()))) {
            return Some(stream);
        }
        let direct_path = format!("/v1/users/{b_id}/messages");
        let Some(direct) = self.send_and_push("direct message", &direct_path, &a_token, &mut stream).await else {
            return Some(stream);
        };
        let group = self.group(&a_token, &b_id).await;
        let group_path = match group {
            Ok((took, id)) => {
                self.record("group", Ok((took, format!("{id} with both users"))));
                format!("/v1/groups/{id}/messages")
            }
            Err(error) => {
                self.record("group", Err(error));
                return Some(stream);
            }
        };
        let Some(in_group) = self.send_and_push("group message", &group_path, &a_token, &mut stream).await else {
            return Some(stream);
        };
        let polled = self.poll(&b_token, &[&direct, &in_group]).await;
        if !self.record("poll", polled) {
            return Some(stream);
        }
        let forged = self.forged_token(&a_token).await;
        self.record("forged token", forged);
        Some(stream)
    }

    async fn health(&self) -> Outcome {
        let answer = self.call(Method::GET, "/health", Auth::None, None).await?;
        match (answer.status, answer.body["status"].as_str()) {
            (StatusCode::OK, Some("ok")) => {
                Ok((answer.took, format!("version {}", answer.body["version"].as_str().unwrap_or("?"))))
            }
            _ => Err(format!("GET /health answered {}: {}", answer.describe(), answer.body)),
        }
    }

    async fn users(&self) -> Result<(Duration, User, User), String> {
        let (a, took_a) = self.user("a").await?;
        let (b, took_b) = self.user("b").await?;
        Ok((took_a + took_b, a, b))
    }

    /// One user: through the server API with the server key, else by open registration.
    async fn user(&self, which: &str) -> Result<(User, Duration), String> {
        let name = format!("smoke-{which}");
        let Some(key) = self.target.server_key.as_deref() else {
            let answer = self.call(Method::POST, "/v1/users", Auth::None, Some(json!({ "name": name }))).await?;
            if answer.status == StatusCode::FORBIDDEN {
                return Err(format!(
                    "POST /v1/users answered {}: this deployment takes users from the app; give the server key \
                     (MESSAGING_SERVER_KEY)",
                    answer.describe()
                ));
            }
            let user = expect(&answer, StatusCode::CREATED, "POST /v1/users")?;
            let token = user["access_token"].as_str().unwrap_or_default().to_owned();
            let id = user["id"].as_str().unwrap_or_default().to_owned();
            return Ok((User { id, token, app_id: None }, answer.took));
        };
        let app_id = format!("smoke-{}-{which}", self.tag);
        let path = format!("/v1/admin/users/{app_id}");
        let upserted = self.call(Method::PUT, &path, Auth::Server(key), Some(json!({ "name": name }))).await?;
        let id =
            expect(&upserted, StatusCode::OK, &format!("PUT {path}"))?["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("{path}/sessions");
        let session = self.call(Method::POST, &path, Auth::Server(key), None).await?;
        let token = expect(&session, StatusCode::CREATED, &format!("POST {path}"))?["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok((User { id, token, app_id: Some(app_id) }, upserted.took + session.took))
    }

    /// Connects as the holder of `token`, resumes from the start and waits for `caught_up`.
    async fn open_stream(&self, token: &str) -> Result<Stream, String> {
        let url = self.target.stream.as_deref().ok_or("the stack has no WebSocket API")?;
        let mut stream = Stream::connect(url, token, self.tls.clone(), self.timeout).await?;
        stream.send(&json!({ "action": "resume" })).await?;
        stream.until(Instant::now() + self.timeout, |frame| frame["type"] == "caught_up").await?;
        Ok(stream)
    }

    /// Sends a message from the holder of `token` to `path`, then waits for its push on `stream`;
    /// the message's id, if both steps passed.
    async fn send_and_push(
        &mut self,
        step: &'static str,
        path: &str,
        token: &str,
        stream: &mut Stream,
    ) -> Option<String> {
        let body = json!({ "text": format!("smoke test: {step}"), "client_id": format!("smoke-{}-{}", self.tag, step.replace(' ', "-")) });
        let sent = self.call(Method::POST, path, Auth::Bearer(token), Some(body)).await;
        let sent = sent.and_then(|answer| {
            let id = expect(&answer, StatusCode::CREATED, &format!("POST {path}"))?["id"].as_str().map(str::to_owned);
            Ok((answer.took, id.ok_or("a message without an id")?))
        });
        let id = match sent {
            Ok((took, id)) => {
                self.record(step, Ok((took, id.clone())));
                id
            }
            Err(error) => {
                self.record(step, Err(error));
                return None;
            }
        };
        let started = Instant::now();
        let pushed = stream.until(started + self.timeout, |frame| message_ids(frame).contains(&id.as_str())).await;
        let push_step = if step == "direct message" { "direct push" } else { "group push" };
        let outcome =
            pushed.map(|frame| (started.elapsed(), format!("a `{}` frame", frame["type"].as_str().unwrap_or("?"))));
        self.record(push_step, outcome.map_err(|e| format!("waiting for {id}: {e}"))).then_some(id)
    }

    /// A group of the holder of `token` with `member` in it; its id.
    async fn group(&self, token: &str, member: &str) -> Result<(Duration, String), String> {
        let name = json!({ "name": format!("smoke-{}", self.tag) });
        let created = self.call(Method::POST, "/v1/groups", Auth::Bearer(token), Some(name)).await?;
        let id =
            expect(&created, StatusCode::CREATED, "POST /v1/groups")?["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("/v1/groups/{id}/members/{member}");
        let added = self.call(Method::PUT, &path, Auth::Bearer(token), None).await?;
        expect(&added, StatusCode::NO_CONTENT, &format!("PUT {path}"))?;
        Ok((created.took + added.took, id))
    }

    /// The holder of `token` polls one entry at a time with the cursors while the answers say more
    /// is waiting: exactly `wanted`, in order, then nothing more. A page may hold no message: a
    /// client that does not ask for membership entries (being added to the group) has them
    /// passed over, and its cursor moves past them all the same.
    async fn poll(&self, token: &str, wanted: &[&String]) -> Outcome {
        let (mut took, mut after, mut seen) = (Duration::ZERO, None::<String>, Vec::new());
        // A page per message and per membership entry; past this bound the feed never ends.
        let bound = 2 * wanted.len() + 4;
        for page in 1..=bound {
            let path = match &after {
                Some(cursor) => format!("/v1/messages?limit=1&after={cursor}"),
                None => "/v1/messages?limit=1".to_owned(),
            };
            let answer = self.call(Method::GET, &path, Auth::Bearer(token), None).await?;
            took += answer.took;
            let body = expect(&answer, StatusCode::OK, "GET /v1/messages")?;
            let messages: Vec<String> = body["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect();
            if messages.len() > 1 {
                return Err(format!("page {page} of limit=1 held {} messages", messages.len()));
            }
            seen.extend(messages);
            if body["has_more"].as_bool() != Some(true) {
                if seen.iter().collect::<Vec<_>>() != wanted {
                    return Err(format!("polled {seen:?}, expected {wanted:?}"));
                }
                return Ok((took, format!("{page} pages, {} messages in order", seen.len())));
            }
            after = body["next"].as_str().map(str::to_owned);
        }
        Err(format!("still has_more after {bound} pages; messages so far {seen:?}"))
    }

    /// A token with one character of its signature changed is refused as `invalid_token`.
    async fn forged_token(&self, token: &str) -> Outcome {
        let mut forged: Vec<char> = token.chars().collect();
        // Well inside the last part (the signature), where every character carries six bits.
        let at = forged.len().saturating_sub(8);
        let Some(c) = forged.get_mut(at) else { return Err("an empty token".into()) };
        *c = if *c == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        let answer = self.call(Method::GET, "/v1/messages", Auth::Bearer(&forged), None).await?;
        match (answer.status, answer.code()) {
            (StatusCode::UNAUTHORIZED, Some("invalid_token")) => Ok((answer.took, "401 invalid_token".into())),
            _ => Err(format!("a forged token was answered {}", answer.describe())),
        }
    }

    /// Erases the users made through the server API.
    async fn clean_up(&mut self) {
        if self.made.is_empty() {
            return;
        }
        let Some(key) = self.target.server_key.clone() else {
            let detail = "registered openly: no server key to erase them with, so they stay".to_owned();
            self.steps.push(Step { step: "clean up", passed: true, latency_ms: None, detail });
            return;
        };
        let (mut took, mut failures) = (Duration::ZERO, Vec::new());
        for app_id in self.made.iter().filter_map(|u| u.app_id.clone()).collect::<Vec<_>>() {
            let path = format!("/v1/admin/users/{app_id}");
            match self.call(Method::DELETE, &path, Auth::Server(&key), None).await {
                Ok(answer) if answer.status == StatusCode::NO_CONTENT => took += answer.took,
                Ok(answer) => failures.push(format!("DELETE {path} answered {}", answer.describe())),
                Err(error) => failures.push(error),
            }
        }
        let outcome = if failures.is_empty() {
            Ok((took, format!("erased {} users", self.made.len())))
        } else {
            Err(failures.join("; "))
        };
        self.record("clean up", outcome);
    }
}

/// The body of `answer` if its status is `status`, else what went wrong.
fn expect<'a>(answer: &'a Answer, status: StatusCode, what: &str) -> Result<&'a Value, String> {
    if answer.status == status {
        Ok(&answer.body)
    } else {
        Err(format!("{what} answered {} (expected {}): {}", answer.describe(), status.as_u16(), answer.body))
    }
}
