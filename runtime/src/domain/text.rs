//! User-visible strings. Lengths count Unicode scalar values, not bytes.

use serde::{Deserialize, Serialize};

use super::error::Invalid;

/// A display name: stored trimmed, 1–64 characters, no control characters (they break every UI
/// that shows a name on one line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if (1..=Self::MAX_CHARS).contains(&chars) && !trimmed.chars().any(char::is_control) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(Invalid::Name)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message body: stored exactly as sent, 1–4000 characters, at least one of them visible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: String) -> Result<Self, Invalid> {
        let has_visible = raw.chars().any(|c| !c.is_whitespace());
        if has_visible && raw.chars().count() <= Self::MAX_CHARS { Ok(Self(raw)) } else { Err(Invalid::Text) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded_in_characters() {
        assert_eq!(Name::parse("  alice ").unwrap().as_str(), "alice");
        assert!(Name::parse(&"ü".repeat(64)).is_ok());
        assert_eq!(Name::parse(&"ü".repeat(65)), Err(Invalid::Name));
        assert_eq!(Name::parse("   "), Err(Invalid::Name));
        assert_eq!(Name::parse("a\u{0007}b"), Err(Invalid::Name));
    }

    #[test]
    fn texts_are_kept_exactly_and_need_a_visible_character() {
        assert_eq!(Text::parse("  hi\n".into()).unwrap().as_str(), "  hi\n");
        assert!(Text::parse("😀".repeat(4000)).is_ok());
        assert_eq!(Text::parse("😀".repeat(4001)), Err(Invalid::Text));
        assert_eq!(Text::parse(" \n\t".into()), Err(Invalid::Text));
        assert_eq!(Text::parse(String::new()), Err(Invalid::Text));
    }
}
