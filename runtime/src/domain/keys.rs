//! Access tokens and feed cursors, both MACs under the key ring ([`contract::key_ring`]).
//!
//! An access token is `<key id>.<user id>.<session id>.<expiry>.<MAC>`: verifying it costs one
//! HMAC and no store read, which is what keeps a poll at a single store request. The key id
//! names the ring's key that signed it, so a rotated ring still verifies the tokens its older
//! keys signed until they expire. A cursor is `base64url(seq ‖ MAC(user id ‖ seq))` under the
//! ring's cursor key, which never rotates: it is bound to the user it was issued to, so another
//! user's cursor, or one a client edited, fails to decode instead of silently reading the wrong
//! position. A history cursor that vouches for what a store read ([`Vouched`]) is MACed under
//! the same key, bound to its user and conversation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contract::key_ring::{Hs256Secret, KeyRing, ServerKey};
use contract::token_key::{TokenKey, TokenKeyError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::conversation::Number;
use super::error::Invalid;
use super::history::Vouched;
use super::ids::{SessionId, UserId};
use super::session::{AccessClaims, UnixSecs};

type HmacSha256 = Hmac<Sha256>;

/// The tokens of before sessions (`<user id>.<MAC>`, never expiring), recognised only to tell
/// their holders to sign in again.
const LEGACY_TOKEN_DOMAIN: &[u8] = b"token/v1\0";
const TOKEN_DOMAIN: &[u8] = b"token/v2\0";
const CURSOR_DOMAIN: &[u8] = b"cursor/v1\0";
const HISTORY_DOMAIN: &[u8] = b"history/v1\0";
/// 96 bits of MAC: forging a cursor is pointless (it only addresses the caller's own feed) but a
/// truncated MAC still makes tampering and cross-user use detectable.
const CURSOR_MAC_LEN: usize = 12;

/// Why an access token opens nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token this server signed (or signed by a key the ring no longer holds).
    Invalid,
    /// Genuine but past its expiry, or a token of before sessions.
    Expired,
}

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

/// A signing key of the ring, keyed once.
#[derive(Clone)]
struct Signer {
    id: String,
    mac: HmacSha256,
}

/// The key ring with its HMAC states keyed once: every request verifies a token and every poll
/// decodes and encodes a cursor, so each use only clones a keyed state instead of re-deriving it.
#[derive(Clone)]
pub struct Keys {
    /// Oldest first; the last signs.
    signers: Vec<Signer>,
    cursor_mac: HmacSha256,
    /// Keys history cursors that vouch for what a store read ([`Vouched`]).
    history_mac: HmacSha256,
    legacy_token_mac: HmacSha256,
    server_key: Option<ServerKey>,
    /// The ring's newest key in its text form, for starting another server on the same key.
    signing_hex: String,
    /// The app's HS256 identity-token secret, when the ring holds it (on AWS, where it lives in
    /// the secret rather than in the function's environment).
    jwt_hs256_secret: Option<Hs256Secret>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

/// A cursor's MAC: the first [`CURSOR_MAC_LEN`] bytes of the HMAC.
fn truncated(mac: HmacSha256) -> [u8; CURSOR_MAC_LEN] {
    let full = mac.finalize().into_bytes();
    full[..CURSOR_MAC_LEN].try_into().expect("SHA-256 output is longer than the cursor MAC")
}

fn keyed(key: &TokenKey, domain: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key.bytes()).expect("HMAC takes keys of any size");
    mac.update(domain);
    mac
}

impl Keys {
    /// The ring's keys; `server_key` opens the server API (`None`: nothing does).
    pub fn new(ring: &KeyRing, server_key: Option<ServerKey>) -> Self {
        let signers =
            ring.signing_keys.iter().map(|k| Signer { id: k.id(), mac: keyed(&k.key, TOKEN_DOMAIN) }).collect();
        Self {
            signers,
            cursor_mac: keyed(&ring.cursor_key, CURSOR_DOMAIN),
            history_mac: keyed(&ring.cursor_key, HISTORY_DOMAIN),
            legacy_token_mac: keyed(&ring.cursor_key, LEGACY_TOKEN_DOMAIN),
            server_key,
            signing_hex: ring.signing().key.to_hex(),
            jwt_hs256_secret: ring.jwt_hs256_secret.clone(),
        }
    }

    /// A ring of its own, with its server key.
    pub fn from_ring(ring: &KeyRing) -> Self {
        Self::new(ring, Some(ring.server_key.clone()))
    }

    /// One key that signs and keys cursors, as `token_key` configures it; no server key.
    pub fn single(key: TokenKey) -> Self {
        Self::new(&KeyRing::from_legacy(key, super::session::now()), None)
    }

    pub fn generate() -> Self {
        Self::single(TokenKey::generate())
    }

    /// Accepts the contract's text form (64 hex characters), as `token_key` holds it.
    pub fn from_hex(hex_key: &str) -> Result<Self, TokenKeyError> {
        TokenKey::parse(hex_key).map(Self::single)
    }

    /// The signing key in its text form: another server given it as `token_key` verifies this
    /// one's tokens and cursors.
    pub fn to_hex(&self) -> String {
        self.signing_hex.clone()
    }

    pub fn server_key(&self) -> Option<&ServerKey> {
        self.server_key.as_ref()
    }

    pub fn jwt_hs256_secret(&self) -> Option<&Hs256Secret> {
        self.jwt_hs256_secret.as_ref()
    }

    /// Whether `presented` is the server key, compared in constant time.
    pub fn is_server_key(&self, presented: &str) -> bool {
        self.server_key.as_ref().is_some_and(|key| bool::from(key.as_str().as_bytes().ct_eq(presented.as_bytes())))
    }

    pub fn issue_access_token(&self, claims: &AccessClaims) -> String {
        let signer = self.signers.last().expect("a ring has a signing key");
        let body = format!("{}.{}.{}.{}", signer.id, claims.user, claims.session, claims.expires_at);
        let mut mac = signer.mac.clone();
        mac.update(body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// What the token says, if one of the ring's keys signed it and it has not expired at `now`.
    pub fn verify_access_token(&self, token: &str, now: UnixSecs) -> Result<AccessClaims, TokenError> {
        let (body, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Invalid)?;
        let mut parts = body.split('.');
        let (Some(key_id), Some(user), Some(session), Some(expiry), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(self.legacy(body, &signature));
        };
        let signer = self.signers.iter().find(|s| s.id == key_id).ok_or(TokenError::Invalid)?;
        let mut mac = signer.mac.clone();
        mac.update(body.as_bytes());
        // `verify_slice` compares in constant time (it uses `subtle`), so timing reveals nothing
        // about how much of a forged signature was right.
        mac.verify_slice(&signature).map_err(|_| TokenError::Invalid)?;
        let expires_at: UnixSecs = expiry.parse().map_err(|_| TokenError::Invalid)?;
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(AccessClaims {
            user: UserId::parse(user).ok_or(TokenError::Invalid)?,
            session: SessionId::parse(session).ok_or(TokenError::Invalid)?,
            expires_at,
        })
    }

    /// A token of before sessions is `Expired` (its holder must sign in again), anything else
    /// `Invalid`.
    fn legacy(&self, user: &str, signature: &[u8]) -> TokenError {
        let mut mac = self.legacy_token_mac.clone();
        mac.update(user.as_bytes());
        if !user.contains('.') && mac.verify_slice(signature).is_ok() {
            TokenError::Expired
        } else {
            TokenError::Invalid
        }
    }

    fn cursor_mac(&self, user: &UserId, seq: Seq) -> [u8; CURSOR_MAC_LEN] {
        let mut mac = self.cursor_mac.clone();
        mac.update(user.as_str().as_bytes());
        mac.update(&seq.0.to_be_bytes());
        truncated(mac)
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

/// A history cursor's body: the number it continues from and what it vouches for.
#[derive(serde::Serialize, serde::Deserialize)]
struct HistoryBody {
    n: u64,
    v: Vouched,
}

impl Keys {
    fn history_mac(&self, user: &UserId, conversation: &str, body: &[u8]) -> [u8; CURSOR_MAC_LEN] {
        let mut mac = self.history_mac.clone();
        // Ids hold no NUL: the three parts cannot run into each other.
        for part in [user.as_str().as_bytes(), b"\0", conversation.as_bytes(), b"\0", body] {
            mac.update(part);
        }
        truncated(mac)
    }

    /// A history cursor continuing from `n` that vouches for `vouched`, bound to `user` and the
    /// conversation: `<base64url body>.<base64url MAC>`.
    pub fn encode_history_cursor(&self, user: &UserId, conversation: &str, n: Number, vouched: &Vouched) -> String {
        let body = serde_json::to_vec(&HistoryBody { n: n.0, v: vouched.clone() }).expect("plain data encodes");
        let mac = self.history_mac(user, conversation, &body);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&body), URL_SAFE_NO_PAD.encode(mac))
    }

    /// What a cursor of [`Keys::encode_history_cursor`] holds, if this server signed it for
    /// `user` and this conversation.
    pub fn decode_history_cursor(
        &self,
        user: &UserId,
        conversation: &str,
        encoded: &str,
    ) -> Result<(Number, Vouched), Invalid> {
        let (body, mac) = encoded.split_once('.').ok_or(Invalid::Cursor)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| Invalid::Cursor)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| Invalid::Cursor)?;
        if !bool::from(self.history_mac(user, conversation, &body).ct_eq(&mac)) {
            return Err(Invalid::Cursor);
        }
        let body: HistoryBody = serde_json::from_slice(&body).map_err(|_| Invalid::Cursor)?;
        Ok((Number(body.n), body.v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_at: UnixSecs) -> AccessClaims {
        AccessClaims { user: UserId::generate(), session: SessionId::generate(), expires_at }
    }

    #[test]
    fn tokens_verify_only_under_the_ring_and_until_they_expire() {
        let keys = Keys::generate();
        let claims = claims(1_000);
        let token = keys.issue_access_token(&claims);
        assert_eq!(keys.verify_access_token(&token, 999), Ok(claims.clone()));
        assert_eq!(keys.verify_access_token(&token, 1_000), Err(TokenError::Expired));
        assert_eq!(Keys::generate().verify_access_token(&token, 0), Err(TokenError::Invalid));
        let other = UserId::generate();
        let swapped = token.replace(claims.user.as_str(), other.as_str());
        assert_eq!(keys.verify_access_token(&swapped, 0), Err(TokenError::Invalid));
        let extended = token.replace(".1000.", ".9999999999.");
        assert_eq!(keys.verify_access_token(&extended, 0), Err(TokenError::Invalid));
        for bad in ["garbage", "", ".", "a.b.c.d.e.f", &format!("{token}x")] {
            assert_eq!(keys.verify_access_token(bad, 0), Err(TokenError::Invalid), "{bad}");
        }
    }

    #[test]
    fn history_cursors_open_only_for_their_user_and_conversation_and_untouched() {
        use crate::domain::conversation::Span;
        let keys = Keys::generate();
        let (user, other) = (UserId::generate(), UserId::generate());
        let vouched = Vouched { spans: vec![Span { from: 4, to: None }], above: 4, settled: 90 };
        let cursor = keys.encode_history_cursor(&user, "g_1", Number(17), &vouched);
        assert_eq!(keys.decode_history_cursor(&user, "g_1", &cursor), Ok((Number(17), vouched.clone())));
        assert_eq!(keys.decode_history_cursor(&other, "g_1", &cursor), Err(Invalid::Cursor));
        assert_eq!(keys.decode_history_cursor(&user, "g_2", &cursor), Err(Invalid::Cursor));
        assert_eq!(Keys::generate().decode_history_cursor(&user, "g_1", &cursor), Err(Invalid::Cursor));
        // A client widening its spans, or moving what was settled, breaks the MAC.
        let (body, mac) = cursor.split_once('.').unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        for edited in [text.replace("\"from\":4", "\"from\":0"), text.replace("90", "99999")] {
            assert_ne!(edited, text);
            let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(edited));
            assert_eq!(keys.decode_history_cursor(&user, "g_1", &forged), Err(Invalid::Cursor));
        }
        for bad in ["", ".", "a.b", &format!("{cursor}x"), body] {
            assert_eq!(keys.decode_history_cursor(&user, "g_1", bad), Err(Invalid::Cursor), "{bad}");
        }
    }

    #[test]
    fn a_rotated_ring_verifies_the_older_keys_tokens_and_the_same_cursors() {
        let mut ring = KeyRing::generate(0);
        let before = Keys::from_ring(&ring);
        let user = UserId::generate();
        let token = before.issue_access_token(&claims(10_000));
        let cursor = before.encode_cursor(&user, Cursor(Seq(7)));
        ring.rotate(100, 3_600);
        let after = Keys::from_ring(&ring);
        assert!(after.verify_access_token(&token, 200).is_ok());
        assert_ne!(after.issue_access_token(&claims(10_000)).split('.').next(), token.split('.').next());
        assert_eq!(after.decode_cursor(&user, &cursor), Ok(Cursor(Seq(7))));
        ring.rotate(1_000_000, 3_600);
        ring.rotate(1_000_001, 3_600);
        assert_eq!(Keys::from_ring(&ring).verify_access_token(&token, 200), Err(TokenError::Invalid));
    }

    #[test]
    fn tokens_of_before_sessions_are_expired() {
        let keys = Keys::generate();
        let user = UserId::generate();
        let mut mac = keys.legacy_token_mac.clone();
        mac.update(user.as_str().as_bytes());
        let legacy = format!("{user}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(keys.verify_access_token(&legacy, 0), Err(TokenError::Expired));
        assert_eq!(Keys::generate().verify_access_token(&legacy, 0), Err(TokenError::Invalid));
    }

    #[test]
    fn only_the_server_key_is_the_server_key() {
        let ring = KeyRing::generate(0);
        let keys = Keys::from_ring(&ring);
        assert!(keys.is_server_key(ring.server_key.as_str()));
        assert!(!keys.is_server_key(""));
        assert!(!keys.is_server_key(&keys.issue_access_token(&claims(u64::MAX))));
        assert!(!Keys::generate().is_server_key(ring.server_key.as_str()), "no server key configured");
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
        let token = keys.issue_access_token(&claims(u64::MAX));
        assert!(Keys::from_hex(&keys.to_hex()).unwrap().verify_access_token(&token, 0).is_ok());
        assert!(Keys::from_hex("abcd").is_err());
        assert!(Keys::from_hex("zz").is_err());
    }
}
