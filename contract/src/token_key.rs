//! The token key's text form: 64 hex characters (32 bytes), as the local key file, the
//! configuration and the deployed function's environment hold it.

use std::fmt;

/// The secret that signs tokens and cursors. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey([u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenKeyError {
    #[error("key is not hex: {0}")]
    NotHex(String),
    #[error("key must be 32 bytes (64 hex characters), got {0}")]
    WrongLength(usize),
}

impl TokenKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system has no randomness source");
        Self(secret)
    }

    /// Accepts 64 hex characters (surrounding white space ignored, as a key file's newline).
    pub fn parse(text: &str) -> Result<Self, TokenKeyError> {
        let bytes = hex::decode(text.trim()).map_err(|e| TokenKeyError::NotHex(e.to_string()))?;
        let secret: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| TokenKeyError::WrongLength(b.len()))?;
        Ok(Self(secret))
    }

    pub fn from_bytes(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_bad_ones_say_why() {
        let key = TokenKey::generate();
        assert_eq!(TokenKey::parse(&format!("{}\n", key.to_hex())), Ok(key.clone()));
        assert_ne!(TokenKey::generate(), key);
        assert_eq!(TokenKey::parse("abcd"), Err(TokenKeyError::WrongLength(2)));
        assert!(matches!(TokenKey::parse(&"zz".repeat(32)), Err(TokenKeyError::NotHex(_))));
        assert_eq!(format!("{key:?}"), "TokenKey(..)");
    }
}
