//! A real identity provider on loopback for the sign-in tests: its JWKS served over HTTP by axum
//! on 127.0.0.1 (keys the test rotates, fetches it counts, outages it causes), and identity tokens
//! signed with `jsonwebtoken` by keys generated with aws-lc-rs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use runtime::identity::{IdentityOptions, IdentityProvider};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://idp.test/";
pub const AUDIENCE: &str = "messaging-tests";

/// A signing key of the provider, with its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    pub jwk: Jwk,
    /// The public key as PEM, what an attacker would key HS256 with.
    pub public_pem: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

impl SigningKey {
    /// A new RSA 2048 key for RS256.
    pub fn rsa(kid: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let private = pem("PRIVATE KEY", pair.as_der().expect("PKCS#8").as_ref());
        let public = aws_lc_rs::signature::KeyPair::public_key(&pair).as_der().expect("SPKI");
        let encoding = EncodingKey::from_rsa_pem(private.as_bytes()).expect("an RSA PEM");
        Self::with(kid, Algorithm::RS256, encoding, pem("PUBLIC KEY", public.as_ref()))
    }

    /// A new P-256 key for ES256.
    pub fn ec(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key generation");
        let encoding = EncodingKey::from_ec_der(pair.to_pkcs8v1().expect("PKCS#8").as_ref());
        let public = aws_lc_rs::signature::KeyPair::public_key(&pair).as_der().expect("SPKI");
        Self::with(kid, Algorithm::ES256, encoding, pem("PUBLIC KEY", public.as_ref()))
    }

    fn with(kid: &str, algorithm: Algorithm, encoding: EncodingKey, public_pem: String) -> Self {
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm).expect("a JWK of the key");
        jwk.common.key_id = Some(kid.to_owned());
        Self { kid: kid.to_owned(), algorithm, encoding, jwk, public_pem }
    }

    /// An identity token of these claims, naming this key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// Signed by this key, but naming the key `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let header = Header { kid: Some(kid.to_owned()), ..Header::new(self.algorithm) };
        encode(&header, claims, &self.encoding).expect("signing")
    }
}

/// An HS256 token of the app's own, signed with `secret`.
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret).expect("a secret"))
        .expect("signing")
}

/// The claims of a token for `sub`, valid for five minutes, of this provider for this app.
pub fn claims(sub: &str, name: Option<&str>) -> Value {
    let now = runtime::domain::session::now();
    let mut claims = json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300 });
    if let Some(name) = name {
        claims["name"] = json!(name);
    }
    claims
}

#[derive(Default)]
struct Published {
    keys: Mutex<Vec<Jwk>>,
    fetches: AtomicUsize,
    down: AtomicBool,
}

/// The provider's JWKS endpoint, serving until dropped.
pub struct TestIdentityProvider {
    published: Arc<Published>,
    /// `http://127.0.0.1:<port>/.well-known/jwks.json`
    pub jwks_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl TestIdentityProvider {
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let published = Arc::new(Published::default());
        let app = Router::new().route("/.well-known/jwks.json", get(jwks)).with_state(published.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let jwks_url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the JWKS server");
        });
        let provider = Self { published, jwks_url, server };
        provider.publish(keys);
        provider
    }

    /// Replaces the published keys (a rotation).
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.published.keys.lock().unwrap() = keys.iter().map(|key| key.jwk.clone()).collect();
    }

    /// While down, the JWKS answers 503.
    pub fn set_down(&self, down: bool) {
        self.published.down.store(down, Ordering::SeqCst);
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }

    /// The runtime's verifier for this provider, as the settings would build it.
    pub fn verifier(&self) -> IdentityProvider {
        IdentityProvider::new(IdentityOptions {
            jwks_url: Some(runtime::identity::jwks_url(&self.jwks_url).expect("a loopback URL")),
            hs256_secret: None,
            issuer: Some(ISSUER.into()),
            audience: Some(AUDIENCE.into()),
            leeway_secs: 60,
            name_claim: "name".into(),
        })
        .expect("valid options")
        .expect("a provider")
    }
}

impl Drop for TestIdentityProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn jwks(State(published): State<Arc<Published>>) -> Response {
    published.fetches.fetch_add(1, Ordering::SeqCst);
    if published.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = published.keys.lock().unwrap().clone();
    axum::Json(json!({ "keys": keys })).into_response()
}
