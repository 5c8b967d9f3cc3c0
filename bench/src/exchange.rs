//! Sign-in with an identity token (`POST /v1/sessions`), RS256 and ES256: the runtime is started
//! against a JWKS served on loopback by the tests' identity provider, tokens are signed before
//! the clock starts, and each request is a returning user's sign-in (verification, the app
//! user's lookup and a new session's write).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use messaging_tests::identity_provider::{AUDIENCE, ISSUER, SigningKey, TestIdentityProvider, claims};

use crate::client::Conn;
use crate::load::{Worker, closed_loop};
use crate::report::Scenario;
use crate::server::{Addresses, Server};

/// Users signing in, each with their own token (returning users after the first round).
const USERS: usize = 1000;

struct Exchange {
    bodies: Arc<Vec<String>>,
    turn: usize,
}

impl Worker for Exchange {
    async fn step(&mut self, conn: &mut Conn) -> bool {
        self.turn = (self.turn + 1) % self.bodies.len();
        let body = self.bodies[self.turn].clone();
        matches!(conn.send(Method::POST, "/v1/sessions", None, Some(body)).await, Ok((StatusCode::CREATED, _)))
    }
}

/// The two scenarios, `exchange-rs256` and `exchange-es256`, on a server of their own.
pub async fn run(
    binary: &Path,
    dir: &Path,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Vec<Scenario>, String> {
    let (rsa, ec) = (SigningKey::rsa("bench-rsa"), SigningKey::ec("bench-ec"));
    let idp = TestIdentityProvider::start(&[&rsa, &ec]).await;
    let flags = ["--jwt-jwks-url", &idp.jwks_url, "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE];
    let server = Server::start_with(binary, dir, &flags, Addresses::Unlimited).await?;
    let mut scenarios = Vec::new();
    for (name, key) in [("exchange-rs256", &rsa), ("exchange-es256", &ec)] {
        let bodies: Vec<String> = (0..USERS)
            .map(|user| {
                let token = key.sign(&claims(&format!("bench|{user}"), Some("bench user")));
                serde_json::json!({ "id_token": token }).to_string()
            })
            .collect();
        let bodies = Arc::new(bodies);
        let workers =
            (0..connections).map(|w| Exchange { bodies: bodies.clone(), turn: w * USERS / connections }).collect();
        let summary = closed_loop(server.addr, workers, warmup, duration).await;
        eprintln!("{name}: {:.0} sign-ins/s", summary.requests_per_second);
        let note = format!("POST /v1/sessions with an {} token of {USERS} returning users", &name[9..].to_uppercase());
        scenarios.push(Scenario { name: name.into(), summary, rss_mib: server.rss_mib(), note });
    }
    server.stop().await?;
    Ok(scenarios)
}
