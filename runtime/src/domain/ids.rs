//! Opaque identifiers. Generated ids carry a kind prefix (`u_`, `g_`, `m_`) for people reading
//! logs; parsing accepts any short string, because an id from a URL is a lookup key: one this
//! server never issued is simply not found, through the same checks as any other unknown id (so
//! a non-member gets 403 on a group whatever target id they name).

use std::fmt;

use serde::{Serialize, Serializer};

use super::error::Invalid;

/// Generated ids are 34 bytes; the bound keeps store keys small whatever a client sends.
pub const MAX_ID_BYTES: usize = 128;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $generate:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                let uuid: uuid::Uuid = $generate;
                Self(format!("{}{}", Self::PREFIX, uuid.simple()))
            }

            /// `None` for an empty id or one longer than [`MAX_ID_BYTES`]: no such id can exist.
            pub fn parse(raw: &str) -> Option<Self> {
                (!raw.is_empty() && raw.len() <= MAX_ID_BYTES).then(|| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).ok_or_else(|| serde::de::Error::custom(concat!("invalid ", stringify!($name))))
            }
        }
    };
}

opaque_id!(
    /// A registered user.
    UserId, "u_", uuid::Uuid::new_v4()
);
opaque_id!(
    /// A group conversation.
    GroupId, "g_", uuid::Uuid::new_v4()
);
opaque_id!(
    /// A session: one chain of refresh tokens, from sign-in to logout.
    SessionId, "s_", uuid::Uuid::new_v4()
);
opaque_id!(
    /// A message; v7 so ids sort roughly by creation time, which helps when debugging.
    MessageId, "m_", uuid::Uuid::now_v7()
);

/// A sender-chosen idempotency key, scoped to that sender.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let chars = raw.chars().count();
        if (1..=64).contains(&chars) && !raw.chars().any(char::is_control) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::ClientId)
        }
    }

    /// The key under which a store tracks a send the client gave no `client_id` (to finish it
    /// if it dies midway). It starts with a control character, which no client id contains, so
    /// it can never be one of the client's.
    pub fn server_side(message: &MessageId) -> Self {
        Self(format!("\u{1}{message}"))
    }

    /// A key a store wrote itself, read back: client ids and server-side keys alike.
    pub fn from_stored(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The app's own id of a user (its identity provider's `sub`, or its backend's key): the
/// server API's handle on a user. Never shown to other users, who see only the opaque `u_…` id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppUserId(String);

impl AppUserId {
    /// 1–255 bytes (identity providers' subjects fit: Cognito's UUIDs, Auth0's `provider|id`,
    /// Firebase's 28 characters), no control characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if (1..=255).contains(&raw.len()) && !raw.chars().any(char::is_control) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::AppUserId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API Gateway WebSocket connection, as API Gateway names it in each event (`connectionId`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(String);

impl ConnectionId {
    /// `None` unless 1–128 printable ASCII characters: API Gateway's ids are short base64, and
    /// the id becomes a path segment of `PostToConnection` and a store key.
    pub fn parse(raw: &str) -> Option<Self> {
        let printable = raw.bytes().all(|b| b.is_ascii_graphic());
        (!raw.is_empty() && raw.len() <= MAX_ID_BYTES && printable).then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_with_their_prefix() {
        let user = UserId::generate();
        assert!(user.as_str().starts_with("u_") && user.as_str().len() == 34);
        assert_eq!(UserId::parse(user.as_str()), Some(user));
        assert!(GroupId::generate().as_str().starts_with("g_"));
        let message = MessageId::generate();
        assert_eq!(MessageId::parse(message.as_str()), Some(message));
    }

    #[test]
    fn only_empty_and_oversized_ids_cannot_exist() {
        assert_eq!(UserId::parse(""), None);
        assert_eq!(UserId::parse(&"x".repeat(MAX_ID_BYTES + 1)), None);
        assert!(UserId::parse("nonexistent").is_some());
    }

    #[test]
    fn client_ids_are_bounded() {
        assert!(ClientId::parse("a").is_ok());
        assert!(ClientId::parse(&"é".repeat(64)).is_ok());
        assert_eq!(ClientId::parse(""), Err(Invalid::ClientId));
        assert_eq!(ClientId::parse(&"a".repeat(65)), Err(Invalid::ClientId));
        assert_eq!(ClientId::parse("a\nb"), Err(Invalid::ClientId));
    }

    #[test]
    fn app_user_ids_are_bounded() {
        assert!(AppUserId::parse("auth0|5f7c8ec7c33c6c004bbafe82").is_ok());
        assert!(AppUserId::parse(&"x".repeat(255)).is_ok());
        for bad in ["", "a\u{0}b", "line\nbreak"] {
            assert_eq!(AppUserId::parse(bad), Err(Invalid::AppUserId), "{bad:?}");
        }
        assert_eq!(AppUserId::parse(&"x".repeat(256)), Err(Invalid::AppUserId));
    }

    #[test]
    fn connection_ids_are_short_printable_ascii() {
        assert!(ConnectionId::parse("JC1dgf9yoAMCK-g=").is_some());
        for bad in ["", "a b", "a/\n", "é"] {
            assert_eq!(ConnectionId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(ConnectionId::parse(&"x".repeat(MAX_ID_BYTES + 1)), None);
    }
}
