//! The provider's JWKS: fetched over HTTPS when first needed, cached, refetched when a token names
//! a key the cache lacks — at most once a minute, so unknown `kid`s cannot make this process
//! hammer the provider — and refreshed after an hour, so a key the provider retired stops working.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::{IdTokenError, refused};

/// At most one fetch per this interval, whatever tokens arrive.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// A cached set older than this is fetched again before use (kept if the fetch fails).
const MAX_AGE: Duration = Duration::from_secs(3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Real JWKS are a few KB; a larger answer is not one.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The signatures a JWKS key may verify: RSA and EC only, so no JWKS entry can make a shared-key
/// (HMAC) check out of a public key.
const ACCEPTED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// `jwt_jwks_url`, checked: HTTPS, or plain HTTP to a loopback host (the tests' provider).
pub fn jwks_url(raw: &str) -> anyhow::Result<Uri> {
    let url: Uri = raw.parse().map_err(|e| anyhow::anyhow!("jwt_jwks_url: {e}"))?;
    let host = url.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme_str() {
        Some("https") if !host.is_empty() => Ok(url),
        Some("http") if loopback => Ok(url),
        _ => anyhow::bail!("jwt_jwks_url must be https (plain http only to a loopback address): {raw}"),
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A key with the one algorithm it verifies.
#[derive(Clone)]
pub struct PinnedKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

struct KeySet {
    keys: Vec<(Option<String>, PinnedKey)>,
    fetched_at: Instant,
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<&PinnedKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|(id, _)| id.as_deref() == Some(kid)).map(|(_, key)| key),
            // A token without a kid is only unambiguous against a set of one.
            None if self.keys.len() == 1 => Some(&self.keys[0].1),
            None => None,
        }
    }
}

pub struct Jwks {
    url: Uri,
    client: HttpsClient,
    cache: RwLock<Option<KeySet>>,
    /// When the last refetch (or failed fetch) was; held while fetching, so concurrent misses
    /// fetch once.
    last_fetch: Mutex<Option<Instant>>,
}

impl Jwks {
    pub fn new(url: Uri) -> anyhow::Result<Self> {
        // Plain HTTP reaches only loopback ([`jwks_url`]); the client follows no redirect.
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { url, client, cache: RwLock::default(), last_fetch: Mutex::default() })
    }

    /// The key a token names, fetching the set when it is missing, stale or lacks that key.
    pub async fn key(&self, kid: Option<&str>) -> Result<PinnedKey, IdTokenError> {
        if let Some(key) = self.cached(kid, MAX_AGE).await {
            return Ok(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched while this one waited for the lock.
        if let Some(key) = self.cached(kid, MAX_AGE).await {
            return Ok(key);
        }
        let wait = last_fetch.map_or(Duration::ZERO, |at| REFETCH_INTERVAL.saturating_sub(at.elapsed()));
        let failure = if wait.is_zero() {
            let first = self.cache.read().await.is_none();
            match self.fetch().await {
                Ok(set) => {
                    // The first fill is not a refetch: a key the provider adds right after it
                    // still gets its one refetch.
                    *last_fetch = (!first).then(Instant::now);
                    *self.cache.write().await = Some(set);
                    None
                }
                Err(detail) => {
                    *last_fetch = Some(Instant::now());
                    tracing::warn!(url = %self.url, detail, "fetching the identity provider's JWKS failed");
                    Some((detail, REFETCH_INTERVAL))
                }
            }
        } else {
            None
        };
        let cache = self.cache.read().await;
        match (cache.as_ref(), failure) {
            (Some(set), _) => set.find(kid).cloned().ok_or_else(|| match kid {
                Some(kid) => refused(format!("its key {kid:?} is not in the identity provider's JWKS")),
                None => refused("it names no key (kid), and the identity provider has several"),
            }),
            (None, failure) => {
                let (detail, wait) = failure.unwrap_or_else(|| ("an earlier fetch failed".into(), wait));
                Err(IdTokenError::ProviderUnavailable { detail, retry_after_secs: wait.as_secs().max(1) })
            }
        }
    }

    async fn cached(&self, kid: Option<&str>, max_age: Duration) -> Option<PinnedKey> {
        let cache = self.cache.read().await;
        let set = cache.as_ref().filter(|set| set.fetched_at.elapsed() < max_age)?;
        set.find(kid).cloned()
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let body = tokio::time::timeout(FETCH_TIMEOUT, self.download())
            .await
            .map_err(|_| format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))??;
        Ok(KeySet { keys: parse(&body)?, fetched_at: Instant::now() })
    }

    async fn download(&self) -> Result<Bytes, String> {
        let request = hyper::Request::get(self.url.clone()).body(Empty::new()).map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the JWKS answered {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES).collect().await;
        body.map(|collected| collected.to_bytes())
            .map_err(|e| format!("reading the JWKS (at most {} KiB): {e}", MAX_JWKS_BYTES / 1024))
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// The usable signing keys of a JWKS document; entries of other kinds are skipped, so one odd
/// entry (an encryption key, an unknown type) does not take the provider's other keys down.
fn parse(body: &[u8]) -> Result<Vec<(Option<String>, PinnedKey)>, String> {
    let raw: RawSet = serde_json::from_slice(body).map_err(|e| format!("the JWKS is not a JWK set: {e}"))?;
    let keys: Vec<_> = raw.keys.into_iter().filter_map(|value| usable(serde_json::from_value(value).ok()?)).collect();
    if keys.is_empty() {
        return Err("the JWKS has no RSA or EC signing key".into());
    }
    Ok(keys)
}

fn usable(jwk: Jwk) -> Option<(Option<String>, PinnedKey)> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
        (Some(stated), _) => Algorithm::try_from(*stated).ok()?,
        (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
        (None, AlgorithmParameters::EllipticCurve(ec)) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        (None, _) => return None,
    };
    if !ACCEPTED.contains(&algorithm) || matches!(jwk.common.key_algorithm, Some(KeyAlgorithm::UNKNOWN_ALGORITHM)) {
        return None;
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some((jwk.common.key_id.clone(), PinnedKey { key, algorithm }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_https_or_loopback_http() {
        assert!(jwks_url("https://example.com/.well-known/jwks.json").is_ok());
        assert!(jwks_url("http://127.0.0.1:9/jwks").is_ok());
        assert!(jwks_url("http://127.0.0.2:9/jwks").is_ok());
        assert!(jwks_url("http://[::1]:9/jwks").is_ok());
        assert!(jwks_url("http://localhost:9/jwks").is_ok());
        assert!(jwks_url("http://example.com/jwks").is_err());
        assert!(jwks_url("http://10.0.0.1/jwks").is_err());
        assert!(jwks_url("ftp://127.0.0.1/jwks").is_err());
        assert!(jwks_url("not a url").is_err());
    }

    #[test]
    fn only_rsa_and_ec_signing_keys_are_kept() {
        let set = serde_json::json!({ "keys": [
            { "kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "shared" },
            { "kty": "RSA", "use": "enc", "kid": "enc", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "hs", "alg": "HS256", "n": "sXch", "e": "AQAB" },
            { "kty": "OKP", "crv": "X25519", "x": "abc", "kid": "okp" },
            { "kty": "weird", "kid": "weird" },
            { "kty": "EC", "crv": "P-256", "kid": "ec",
              "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" },
            { "kty": "RSA", "kid": "rsa", "n": "sXch", "e": "AQAB" },
        ]});
        let keys = parse(set.to_string().as_bytes()).unwrap();
        let kept: Vec<_> = keys.iter().map(|(kid, key)| (kid.clone().unwrap(), key.algorithm)).collect();
        assert_eq!(kept, [("ec".to_owned(), Algorithm::ES256), ("rsa".to_owned(), Algorithm::RS256)]);
        assert!(parse(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).is_err());
        assert!(parse(b"[]").is_err());
    }
}
