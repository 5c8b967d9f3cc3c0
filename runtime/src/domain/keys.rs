//! Bearer tokens and feed cursors, both MACs under one server key.
//!
//! A token is `<user id>.<MAC(user id)>`: verifying it costs one HMAC and no store read, which is
//! what keeps a poll at a single store request. A cursor is `base64url(seq ‖ MAC(user id ‖ seq))`:
//! it is bound to the user it was issued to, so another user's cursor, or one a client edited,
//! fails to decode instead of silently reading the wrong position.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contract::token_key::{TokenKey, TokenKeyError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::error::Invalid;
use super::ids::UserId;

type HmacSha256 = Hmac<Sha256>;

const TOKEN_DOMAIN: &[u8] = b"token/v1\0";
const CURSOR_DOMAIN: &[u8] = b"cursor/v1\0";
/// 96 bits of MAC: forging a cursor is pointless (it only addresses the caller's own feed) but a
/// truncated MAC still makes tampering and cross-user use detectable.
const CURSOR_MAC_LEN: usize = 12;

/// Position in one user's feed: the number of entries before and including it. Entry 1 is the
/// oldest; `Seq::START` means "before everything".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

impl Seq {
    pub const START: Seq = Seq(0);

    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

/// A decoded cursor: the position after which the next page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor(pub Seq);

/// The server's secret, with the HMAC states for tokens and cursors keyed once: every request
/// verifies a token and every poll decodes and encodes a cursor, so each use only clones a
/// keyed state instead of re-deriving it from the key.
#[derive(Clone)]
pub struct Keys {
    secret: TokenKey,
    token_mac: HmacSha256,
    cursor_mac: HmacSha256,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    pub const LEN: usize = 32;

    pub fn new(secret: TokenKey) -> Self {
        let keyed = |domain: &[u8]| {
            let mut mac = HmacSha256::new_from_slice(secret.bytes()).expect("HMAC takes keys of any size");
            mac.update(domain);
            mac
        };
        Self { token_mac: keyed(TOKEN_DOMAIN), cursor_mac: keyed(CURSOR_DOMAIN), secret }
    }

    pub fn from_bytes(secret: [u8; 32]) -> Self {
        Self::new(TokenKey::from_bytes(secret))
    }

    pub fn generate() -> Self {
        Self::new(TokenKey::generate())
    }

    /// Accepts the contract's text form (64 hex characters), as written to the key file and
    /// expected in configuration.
    pub fn from_hex(hex_key: &str) -> Result<Self, TokenKeyError> {
        TokenKey::parse(hex_key).map(Self::new)
    }

    pub fn to_hex(&self) -> String {
        self.secret.to_hex()
    }

    pub fn issue_token(&self, user: &UserId) -> String {
        let mut mac = self.token_mac.clone();
        mac.update(user.as_str().as_bytes());
        format!("{user}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// The user the token was issued to, or `None` if it was not issued under this key.
    pub fn verify_token(&self, token: &str) -> Option<UserId> {
        let (user, signature) = token.split_once('.')?;
        let user = UserId::parse(user)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.token_mac.clone();
        mac.update(user.as_str().as_bytes());
        // `verify_slice` compares in constant time (it uses `subtle`), so timing reveals nothing
        // about how much of a forged signature was right.
        mac.verify_slice(&signature).ok()?;
        Some(user)
    }

    fn cursor_mac(&self, user: &UserId, seq: Seq) -> [u8; CURSOR_MAC_LEN] {
        let mut mac = self.cursor_mac.clone();
        mac.update(user.as_str().as_bytes());
        mac.update(&seq.0.to_be_bytes());
        let full = mac.finalize().into_bytes();
        full[..CURSOR_MAC_LEN].try_into().expect("SHA-256 output is longer than the cursor MAC")
    }

    pub fn encode_cursor(&self, user: &UserId, cursor: Cursor) -> String {
        let mut raw = [0u8; 8 + CURSOR_MAC_LEN];
        raw[..8].copy_from_slice(&cursor.0.0.to_be_bytes());
        raw[8..].copy_from_slice(&self.cursor_mac(user, cursor.0));
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode_cursor(&self, user: &UserId, encoded: &str) -> Result<Cursor, Invalid> {
        let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| Invalid::Cursor)?;
        let raw: [u8; 8 + CURSOR_MAC_LEN] = raw.try_into().map_err(|_| Invalid::Cursor)?;
        let seq = Seq(u64::from_be_bytes(raw[..8].try_into().expect("8 bytes")));
        let expected = self.cursor_mac(user, seq);
        // Constant-time comparison, so response timing does not reveal how much of a MAC matched
        // (`subtle` keeps the optimiser from turning it back into an early exit).
        if bool::from(expected.ct_eq(&raw[8..])) { Ok(Cursor(seq)) } else { Err(Invalid::Cursor) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_under_the_issuing_key() {
        let keys = Keys::generate();
        let user = UserId::generate();
        let token = keys.issue_token(&user);
        assert_eq!(keys.verify_token(&token), Some(user.clone()));
        assert_eq!(Keys::generate().verify_token(&token), None);
        let other = UserId::generate();
        let (_, signature) = token.split_once('.').unwrap();
        assert_eq!(keys.verify_token(&format!("{other}.{signature}")), None);
        assert_eq!(keys.verify_token("garbage"), None);
        assert_eq!(keys.verify_token(&format!("{user}.")), None);
    }

    #[test]
    fn cursors_are_bound_to_their_user() {
        let keys = Keys::generate();
        let alice = UserId::generate();
        let bob = UserId::generate();
        let encoded = keys.encode_cursor(&alice, Cursor(Seq(42)));
        assert_eq!(keys.decode_cursor(&alice, &encoded), Ok(Cursor(Seq(42))));
        assert_eq!(keys.decode_cursor(&bob, &encoded), Err(Invalid::Cursor));
        assert_eq!(keys.decode_cursor(&alice, ""), Err(Invalid::Cursor));
        assert_eq!(keys.decode_cursor(&alice, "!!!"), Err(Invalid::Cursor));
        let mut tampered = encoded.into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(keys.decode_cursor(&alice, std::str::from_utf8(&tampered).unwrap()), Err(Invalid::Cursor));
    }

    #[test]
    fn hex_keys_round_trip_and_wrong_lengths_fail() {
        let keys = Keys::generate();
        assert_eq!(Keys::from_hex(&keys.to_hex()).unwrap().secret, keys.secret);
        assert!(Keys::from_hex("abcd").is_err());
        assert!(Keys::from_hex("zz").is_err());
    }
}
