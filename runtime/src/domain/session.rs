//! Sessions: a short-lived access token, verified without a store read, and an opaque refresh
//! token, stored hashed and replaced on every use.
//!
//! A refresh token is `<user id>.<session id>.<generation>.<secret>`; the store keeps, per
//! session, the hash of the current generation's secret. Presenting the current one moves the
//! session to the next generation. Presenting one of an *earlier* generation means that token
//! was copied — its rightful holder already exchanged it — so the whole session is revoked (the
//! OAuth 2.0 Security Best Current Practice, RFC 9700 §4.14.2, "refresh token rotation").

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::ids::{SessionId, UserId};

/// Seconds since the Unix epoch: what token and session expiries are stated in.
pub type UnixSecs = u64;

pub fn now() -> UnixSecs {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What an access token says, once its MAC has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub user: UserId,
    pub session: SessionId,
    pub expires_at: UnixSecs,
}

/// A refresh token as the client holds it. Its `Display` is the token's text.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub user: UserId,
    pub session: SessionId,
    pub generation: u64,
    secret: [u8; 32],
}

impl RefreshToken {
    /// A new token of `session` at `generation`, with a fresh random secret.
    pub fn issue(user: UserId, session: SessionId, generation: u64) -> Self {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system has no randomness source");
        Self { user, session, generation, secret }
    }

    /// `None` for anything this server could not have issued.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let (user, session, generation, secret) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let secret: [u8; 32] = URL_SAFE_NO_PAD.decode(secret).ok()?.try_into().ok()?;
        Some(Self {
            user: UserId::parse(user)?,
            session: SessionId::parse(session)?,
            generation: generation.parse().ok()?,
            secret,
        })
    }

    /// What the store keeps instead of the secret. The secret is 256 random bits, so a plain
    /// hash cannot be reversed by guessing; no slow password hash is needed.
    pub fn secret_hash(&self) -> String {
        hex::encode(Sha256::digest(self.secret))
    }

    /// The token that replaces this one.
    pub fn successor(&self) -> Self {
        Self::issue(self.user.clone(), self.session.clone(), self.generation + 1)
    }
}

impl fmt::Display for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}.{}", self.user, self.session, self.generation, URL_SAFE_NO_PAD.encode(self.secret))
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshToken({}, {}, {}, ..)", self.user, self.session, self.generation)
    }
}

/// A session as the store keeps it: never the refresh token, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub user: UserId,
    pub id: SessionId,
    pub generation: u64,
    pub secret_hash: String,
    /// When the current refresh token expires; the store may forget the session after it.
    pub expires_at: UnixSecs,
}

/// What presenting a refresh token to a session means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented {
    /// The session's current token, unexpired: rotate.
    Current,
    /// A token the session has moved past: revoke the session.
    Replayed,
    /// Expired, forged or from the future: refuse, change nothing.
    Refused,
}

impl Session {
    /// The session whose current refresh token is `token`, valid until `expires_at`.
    pub fn of(token: &RefreshToken, expires_at: UnixSecs) -> Self {
        Self {
            user: token.user.clone(),
            id: token.session.clone(),
            generation: token.generation,
            secret_hash: token.secret_hash(),
            expires_at,
        }
    }

    pub fn judge(&self, presented: &RefreshToken, now: UnixSecs) -> Presented {
        use subtle::ConstantTimeEq;
        if presented.user != self.user || presented.session != self.id {
            return Presented::Refused;
        }
        if presented.generation < self.generation {
            return Presented::Replayed;
        }
        let same = bool::from(presented.secret_hash().as_bytes().ct_eq(self.secret_hash.as_bytes()));
        if presented.generation == self.generation && same && now < self.expires_at {
            Presented::Current
        } else {
            Presented::Refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_round_trip_and_bad_ones_do_not_parse() {
        let token = RefreshToken::issue(UserId::generate(), SessionId::generate(), 3);
        assert_eq!(RefreshToken::parse(&token.to_string()), Some(token.clone()));
        assert!(!format!("{token:?}").contains(&URL_SAFE_NO_PAD.encode(token.secret)));
        for bad in ["", "a.b.c", "a.b.c.d.e", "u.s.x.AAAA", &format!("{}.", token)] {
            assert_eq!(RefreshToken::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_session_accepts_its_current_token_once_and_spots_a_replay() {
        let first = RefreshToken::issue(UserId::generate(), SessionId::generate(), 0);
        let session = Session::of(&first, 100);
        assert_eq!(session.judge(&first, 99), Presented::Current);
        assert_eq!(session.judge(&first, 100), Presented::Refused, "expired");
        let second = first.successor();
        let rotated = Session::of(&second, 200);
        assert_eq!(rotated.judge(&second, 150), Presented::Current);
        assert_eq!(rotated.judge(&first, 150), Presented::Replayed);
        let forged = RefreshToken::issue(second.user.clone(), second.session.clone(), 1);
        assert_eq!(rotated.judge(&forged, 150), Presented::Refused, "right generation, wrong secret");
        assert_eq!(rotated.judge(&second.successor(), 150), Presented::Refused, "a generation not issued yet");
        let elsewhere = RefreshToken::issue(UserId::generate(), second.session.clone(), 1);
        assert_eq!(rotated.judge(&elsewhere, 150), Presented::Refused);
    }
}
