use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{ClientId, GroupId, MessageId, UserId};
use super::keys::Seq;
use super::text::{Name, Text};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: Name,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "to", rename_all = "snake_case")]
pub enum Recipient {
    Direct(UserId),
    Group(GroupId),
}

impl Recipient {
    pub fn kind(&self) -> &'static str {
        match self {
            Recipient::Direct(_) => "direct",
            Recipient::Group(_) => "group",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Recipient::Direct(user) => user.as_str(),
            Recipient::Group(group) => group.as_str(),
        }
    }
}

/// A message as delivered. `sent_at` is taken when the server accepted the request; feed order is
/// delivery order, which under concurrency may differ from `sent_at` order by a few milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub from: UserId,
    #[serde(flatten)]
    pub to: Recipient,
    pub text: Text,
    #[serde(with = "millis")]
    pub sent_at: DateTime<Utc>,
}

impl Message {
    /// A new message stamped now, truncated to the millisecond that the API shows so that a
    /// replayed send returns exactly what the first one did.
    pub fn new(from: UserId, to: Recipient, text: Text) -> Self {
        let now = Utc::now();
        let sent_at = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        Self { id: MessageId::generate(), from, to, text, sent_at }
    }

    pub fn sent_at_rfc3339(&self) -> String {
        self.sent_at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Whether a resend with the same `client_id` is the same request as this message.
    pub fn same_request(&self, to: &Recipient, text: &Text) -> bool {
        &self.to == to && &self.text == text
    }
}

/// A send as the store receives it.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub message: Message,
    pub client_id: Option<ClientId>,
}

/// The outcome of a send: the delivered message, and whether it was delivered by an earlier
/// request with the same `client_id` (then nothing was delivered this time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub message: Message,
    pub replayed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPage {
    /// Entries after the requested position, oldest first, each with its own position.
    pub entries: Vec<(Seq, Message)>,
    /// More entries existed past the page when it was read.
    pub has_more: bool,
}

mod millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(at.timestamp_millis())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let millis = i64::deserialize(d)?;
        DateTime::from_timestamp_millis(millis).ok_or_else(|| serde::de::Error::custom("timestamp out of range"))
    }
}
