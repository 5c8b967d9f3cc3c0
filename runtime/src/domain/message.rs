use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
///
/// Its serde form *is* the API's JSON (`{"id","from","to","kind","text","sent_at"}`), and stores
/// keep exactly that, so a poll can hand stored messages to clients without decoding them
/// (see [`MessageJson`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub from: UserId,
    pub to: Recipient,
    pub text: Text,
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

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Direct,
    Group,
}

#[derive(Serialize)]
struct WireOut<'a> {
    id: &'a MessageId,
    from: &'a UserId,
    to: &'a str,
    kind: Kind,
    text: &'a Text,
    sent_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn {
    id: MessageId,
    from: UserId,
    to: String,
    kind: Kind,
    text: Text,
    sent_at: String,
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let kind = match self.to {
            Recipient::Direct(_) => Kind::Direct,
            Recipient::Group(_) => Kind::Group,
        };
        WireOut {
            id: &self.id,
            from: &self.from,
            to: self.to.id(),
            kind,
            text: &self.text,
            sent_at: self.sent_at_rfc3339(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = WireIn::deserialize(deserializer)?;
        let to = match wire.kind {
            Kind::Direct => UserId::parse(&wire.to).map(Recipient::Direct),
            Kind::Group => GroupId::parse(&wire.to).map(Recipient::Group),
        }
        .ok_or_else(|| D::Error::custom("invalid recipient id"))?;
        let sent_at = DateTime::parse_from_rfc3339(&wire.sent_at).map_err(D::Error::custom)?.with_timezone(&Utc);
        Ok(Self { id: wire.id, from: wire.from, to, text: wire.text, sent_at })
    }
}

/// A message in its API JSON form, as a store keeps it. Polls pass it through unparsed; anything
/// that needs the fields decodes it.
#[derive(Clone, Debug)]
pub struct MessageJson(Box<RawValue>);

impl MessageJson {
    pub fn encode(message: &Message) -> Self {
        Self(serde_json::value::to_raw_value(message).expect("a message always serialises"))
    }

    /// Wraps stored bytes, checking that they are one JSON value (not that it is a message).
    pub fn from_stored(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let text = std::str::from_utf8(bytes).map_err(serde::de::Error::custom)?;
        RawValue::from_string(text.to_owned()).map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.get().as_bytes()
    }

    pub fn raw(&self) -> &RawValue {
        &self.0
    }

    pub fn decode(&self) -> Result<Message, serde_json::Error> {
        serde_json::from_str(self.0.get())
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
    /// The feed positions this call wrote the message at. Empty for a replay; on DynamoDB it
    /// leaves out the chunks of a large group send that a concurrent call with the same
    /// `client_id` delivered. For telling live listeners (best effort), never for correctness.
    pub deliveries: Vec<(UserId, Seq)>,
}

#[derive(Clone, Debug)]
pub struct FeedPage {
    /// Entries after the requested position, oldest first, each with its own position.
    pub entries: Vec<(Seq, MessageJson)>,
    /// More entries existed past the page when it was read.
    pub has_more: bool,
}

impl FeedPage {
    /// The most a page's entries hold, in bytes of message JSON: DynamoDB's own page (a `Query`
    /// reads at most 1 MB), on both stores, so that a poll's answer is bounded whatever `limit`
    /// asks for. A page holds at least one entry, and stops with `has_more` before an entry that
    /// would take it past this.
    pub const MAX_BYTES: usize = 1024 * 1024;

    /// Whether `entries` (already on the page, `bytes` of them) may take one more of `next` bytes.
    pub fn fits(entries: usize, bytes: usize, next: usize) -> bool {
        entries == 0 || bytes + next <= Self::MAX_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_takes_entries_up_to_its_bytes_and_always_one() {
        assert!(FeedPage::fits(0, 0, 2 * FeedPage::MAX_BYTES), "the first entry, however large");
        assert!(FeedPage::fits(3, FeedPage::MAX_BYTES - 10, 10));
        assert!(!FeedPage::fits(3, FeedPage::MAX_BYTES - 10, 11));
    }

    #[test]
    fn messages_round_trip_through_their_api_form() {
        let to = Recipient::Group(GroupId::generate());
        let message = Message::new(UserId::generate(), to, Text::parse(" \"hi\" 👋\n".into()).unwrap());
        let json = MessageJson::encode(&message);
        let value: serde_json::Value = serde_json::from_slice(json.as_bytes()).unwrap();
        let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["from", "id", "kind", "sent_at", "text", "to"]);
        assert_eq!(value["kind"], "group");
        assert_eq!(json.decode().unwrap(), message);
        assert_eq!(MessageJson::from_stored(json.as_bytes()).unwrap().decode().unwrap(), message);
        assert!(MessageJson::from_stored(b"{\"id\":").is_err());
        assert!(MessageJson::from_stored(&[0xff, 0xfe]).is_err());
    }
}
