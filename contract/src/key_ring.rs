//! The service's secrets as one document: the keys that sign access tokens (a ring, so rotation
//! logs nobody out), the key of cursors, the server key of the app's backend, and the shared
//! secret of HS256 identity tokens when the app mints its own. Locally it is
//! `keys.json` in the data directory (mode 0600); deployed, the value of one AWS Secrets Manager
//! secret. The runtime reads it; `runtime keys rotate` and the provisioner write it.
//!
//! ```json
//! {"server_key": "sk_…", "cursor_key": "<64 hex>",
//!  "signing_keys": [{"key": "<64 hex>", "created_at": 1764460800}],
//!  "jwt_hs256_secret": "<at least 32 bytes; only when set>"}
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::token_key::{TokenKey, TokenKeyError};

/// What a key's id is derived from, so ids never need to be stored or kept unique by hand.
const KEY_ID_DOMAIN: &[u8] = b"key-id/v1\0";
/// The server key's text form: this prefix and 64 hex characters. No user token has it (theirs
/// start with a key id), so neither can be mistaken for the other.
const SERVER_KEY_PREFIX: &str = "sk_";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyRingError {
    #[error("the key ring is not valid JSON of the documented shape: {0}")]
    Json(String),
    #[error("the key ring has no signing key")]
    NoSigningKey,
    #[error("a key of the ring: {0}")]
    Key(#[from] TokenKeyError),
    #[error("the server key must be 'sk_' followed by 64 hex characters")]
    ServerKey,
    #[error("the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes")]
    Hs256Secret,
}

/// The shortest HS256 secret accepted: as long as SHA-256's output (RFC 7518, section 3.2).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// The secret the app signs its own HS256 identity tokens with. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Hs256Secret(String);

impl Hs256Secret {
    pub fn parse(text: &str) -> Result<Self, KeyRingError> {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.len() < MIN_HS256_SECRET_BYTES {
            return Err(KeyRingError::Hs256Secret);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Hs256Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hs256Secret(..)")
    }
}

/// The secret the app's backend presents to the server API. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerKey(String);

impl ServerKey {
    pub fn generate() -> Self {
        Self(format!("{SERVER_KEY_PREFIX}{}", TokenKey::generate().to_hex()))
    }

    pub fn parse(text: &str) -> Result<Self, KeyRingError> {
        let text = text.trim();
        let hex = text.strip_prefix(SERVER_KEY_PREFIX).ok_or(KeyRingError::ServerKey)?;
        TokenKey::parse(hex).map_err(|_| KeyRingError::ServerKey)?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

/// A key that signs access tokens, and since when (seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKey {
    pub key: TokenKey,
    pub created_at: u64,
}

impl SigningKey {
    /// The id tokens carry to name the key that signed them: 8 hex characters of a hash of the
    /// key, so it reveals nothing about the key and needs no bookkeeping.
    pub fn id(&self) -> String {
        key_id(&self.key)
    }
}

pub fn key_id(key: &TokenKey) -> String {
    let digest = Sha256::new().chain_update(KEY_ID_DOMAIN).chain_update(key.bytes()).finalize();
    hex::encode(&digest[..4])
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRing {
    pub server_key: ServerKey,
    /// Cursors are MACs under this key, which never rotates: clients keep cursors for as long as
    /// they like, and a forged one could only address the caller's own feed.
    pub cursor_key: TokenKey,
    /// Oldest first; the newest signs, every one verifies.
    pub signing_keys: Vec<SigningKey>,
    /// Set by `provisioner keys hs256-secret`, so that it never sits in the function's
    /// environment.
    pub jwt_hs256_secret: Option<Hs256Secret>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    server_key: String,
    cursor_key: String,
    signing_keys: Vec<StoredKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwt_hs256_secret: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    key: String,
    created_at: u64,
}

impl KeyRing {
    /// A new ring: fresh keys throughout.
    pub fn generate(now: u64) -> Self {
        let key = TokenKey::generate();
        Self::from_legacy(key, now)
    }

    /// The ring of a deployment that had one plaintext token key: that key signs and keeps
    /// every cursor it issued valid; a new server key.
    pub fn from_legacy(key: TokenKey, now: u64) -> Self {
        Self {
            server_key: ServerKey::generate(),
            cursor_key: key.clone(),
            signing_keys: vec![SigningKey { key, created_at: now }],
            jwt_hs256_secret: None,
        }
    }

    /// The key that signs new tokens.
    pub fn signing(&self) -> &SigningKey {
        self.signing_keys.last().expect("a parsed or generated ring has a signing key")
    }

    /// A new signing key. The keys it supersedes keep verifying until every token they signed
    /// has expired: a key is dropped once its successor has been signing for longer than
    /// `token_lifetime` (seconds), the longest an access token lives.
    pub fn rotate(&mut self, now: u64, token_lifetime: u64) {
        self.signing_keys.push(SigningKey { key: TokenKey::generate(), created_at: now });
        let retired = self
            .signing_keys
            .windows(2)
            .take_while(|pair| pair[1].created_at.saturating_add(token_lifetime) <= now)
            .count();
        self.signing_keys.drain(..retired);
    }

    pub fn parse(text: &str) -> Result<Self, KeyRingError> {
        let stored: Stored = serde_json::from_str(text).map_err(|e| KeyRingError::Json(e.to_string()))?;
        let signing_keys = stored
            .signing_keys
            .iter()
            .map(|k| Ok(SigningKey { key: TokenKey::parse(&k.key)?, created_at: k.created_at }))
            .collect::<Result<Vec<_>, KeyRingError>>()?;
        if signing_keys.is_empty() {
            return Err(KeyRingError::NoSigningKey);
        }
        Ok(Self {
            server_key: ServerKey::parse(&stored.server_key)?,
            cursor_key: TokenKey::parse(&stored.cursor_key)?,
            signing_keys,
            jwt_hs256_secret: stored.jwt_hs256_secret.as_deref().map(Hs256Secret::parse).transpose()?,
        })
    }

    pub fn to_json(&self) -> String {
        let stored = Stored {
            server_key: self.server_key.as_str().to_owned(),
            cursor_key: self.cursor_key.to_hex(),
            signing_keys: self
                .signing_keys
                .iter()
                .map(|k| StoredKey { key: k.key.to_hex(), created_at: k.created_at })
                .collect(),
            jwt_hs256_secret: self.jwt_hs256_secret.as_ref().map(|secret| secret.as_str().to_owned()),
        };
        serde_json::to_string_pretty(&stored).expect("the ring serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_round_trips_and_bad_ones_say_why() {
        let ring = KeyRing::generate(1_000);
        assert_eq!(KeyRing::parse(&ring.to_json()), Ok(ring.clone()));
        assert!(matches!(KeyRing::parse("{}"), Err(KeyRingError::Json(_))));
        let empty = format!(
            r#"{{"server_key": "{}", "cursor_key": "{}", "signing_keys": []}}"#,
            ring.server_key.as_str(),
            ring.cursor_key.to_hex()
        );
        assert_eq!(KeyRing::parse(&empty), Err(KeyRingError::NoSigningKey));
        let bad_server = ring.to_json().replace(ring.server_key.as_str(), "not-a-key");
        assert_eq!(KeyRing::parse(&bad_server), Err(KeyRingError::ServerKey));
        assert_eq!(format!("{:?}", ring.server_key), "ServerKey(..)");
    }

    #[test]
    fn an_hs256_secret_is_kept_only_when_set_and_never_shown() {
        let mut ring = KeyRing::generate(1_000);
        assert!(!ring.to_json().contains("jwt_hs256_secret"), "a ring without one stays as before");
        ring.jwt_hs256_secret = Some(Hs256Secret::parse("a shared secret of at least 32 bytes\n").unwrap());
        let parsed = KeyRing::parse(&ring.to_json()).unwrap();
        assert_eq!(parsed.jwt_hs256_secret.as_ref().unwrap().as_str(), "a shared secret of at least 32 bytes");
        assert!(!format!("{parsed:?}").contains("shared secret"));
        assert_eq!(Hs256Secret::parse("short"), Err(KeyRingError::Hs256Secret));
        let short = ring.to_json().replace("a shared secret of at least 32 bytes", "short");
        assert_eq!(KeyRing::parse(&short), Err(KeyRingError::Hs256Secret));
    }

    #[test]
    fn a_legacy_key_keeps_signing_and_reading_cursors() {
        let legacy = TokenKey::generate();
        let ring = KeyRing::from_legacy(legacy.clone(), 5);
        assert_eq!(ring.cursor_key, legacy);
        assert_eq!(ring.signing().key, legacy);
        assert_eq!(ring.signing().id(), key_id(&legacy));
        assert_eq!(ring.signing().id().len(), 8);
    }

    #[test]
    fn rotation_keeps_old_keys_until_their_tokens_have_expired() {
        let mut ring = KeyRing::generate(0);
        let first = ring.signing().clone();
        ring.rotate(100, 3_600);
        assert_eq!(ring.signing_keys.len(), 2, "the first key's tokens may still be valid");
        assert_ne!(ring.signing().key, first.key);
        ring.rotate(200, 3_600);
        assert_eq!(ring.signing_keys.len(), 3);
        // The second key has signed since 100: past 3,700 no token of the first is valid.
        ring.rotate(3_700, 3_600);
        assert_eq!(ring.signing_keys.len(), 3);
        assert!(!ring.signing_keys.contains(&first));
        let cursor_key = ring.cursor_key.clone();
        ring.rotate(1_000_000, 3_600);
        assert_eq!(ring.signing_keys.len(), 2, "the new key, and the one whose tokens are still valid");
        assert_eq!(ring.cursor_key, cursor_key, "cursors never change key");
    }
}
