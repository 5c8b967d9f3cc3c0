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

/// A message body: stored exactly as sent, 1–4000 characters, at least one of them visible, and
/// no control character but tab, line feed and carriage return. JSON escapes the other controls
/// as six bytes each (`\u0001`), so without the rule 4,000 of them would be stored — and copied
/// to every recipient's feed — as 24 KB; with it a text's JSON is at most 4 bytes a character
/// (a 4-byte UTF-8 character, or a 2-byte escape), [`Text::MAX_JSON_BYTES`] in all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 4000;
    /// The most a text's JSON string takes, quotes included.
    pub const MAX_JSON_BYTES: usize = 4 * Self::MAX_CHARS + 2;

    pub fn parse(raw: String) -> Result<Self, Invalid> {
        let has_visible = raw.chars().any(|c| !c.is_whitespace() && !c.is_control());
        let allowed = raw.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
        if has_visible && allowed && raw.chars().count() <= Self::MAX_CHARS {
            Ok(Self(raw))
        } else {
            Err(Invalid::Text)
        }
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
        assert!(Text::parse("line\r\nnext\tcolumn".into()).is_ok());
        for control in ['\u{0}', '\u{1}', '\u{b}', '\u{c}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert_eq!(Text::parse(format!("hi{control}")), Err(Invalid::Text), "{control:?}");
        }
    }
}
