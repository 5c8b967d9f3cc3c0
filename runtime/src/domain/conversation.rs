//! Conversations: a peer or a group as one user sees it, numbered messages, read positions, and
//! which messages of a group a user may read (the spans of time they were a member).
//!
//! Every conversation numbers its messages 1, 2, 3, … (the pair of users of a direct
//! conversation shares one count, a group has one). The number is the store's, taken in the
//! same write that delivers the message, and it is part of the message's id (`m_<hex>.<n>`), so
//! a read position given as a message id needs no lookup to become a number.

use serde::{Deserialize, Serialize};

pub use super::history::{HistoryFrom, HistoryPage, Vouched, next_page};
use super::ids::{GroupId, MessageId, UserId};
use super::message::{MessageJson, Recipient};

/// A conversation from one user's side: the peer (their own id for notes to themself) or a group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConversationId {
    Direct(UserId),
    Group(GroupId),
}

impl ConversationId {
    /// Group ids start `g_`; every other id names a peer (ids are opaque otherwise, see
    /// [`super::ids`]). `None` for an id no user or group can have.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.starts_with("g_") { GroupId::parse(raw).map(Self::Group) } else { UserId::parse(raw).map(Self::Direct) }
    }

    /// The conversation a message belongs to, seen by `user` (one of its parties).
    pub fn of_message(user: &UserId, from: &UserId, to: &Recipient) -> Self {
        match to {
            Recipient::Group(group) => Self::Group(group.clone()),
            Recipient::Direct(peer) if peer == user => Self::Direct(from.clone()),
            Recipient::Direct(peer) => Self::Direct(peer.clone()),
        }
    }

    /// The same conversation seen by `other`, one of its parties (this is `user`'s view).
    pub fn seen_by(&self, user: &UserId, other: &UserId) -> Self {
        match self {
            Self::Direct(peer) if other != user && other == peer => Self::Direct(user.clone()),
            same => same.clone(),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Direct(user) => user.as_str(),
            Self::Group(group) => group.as_str(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Direct(_) => "direct",
            Self::Group(_) => "group",
        }
    }

    /// The key both sides share: a group's id, or the two users in id order.
    pub fn shared_key(&self, user: &UserId) -> String {
        match self {
            Self::Group(group) => group.as_str().to_owned(),
            Self::Direct(peer) => pair_key(user, peer),
        }
    }
}

/// The shared key of the direct conversation between `a` and `b`, whichever is which.
pub fn pair_key(a: &UserId, b: &UserId) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{low}#{high}")
}

pub use super::inbox::{Conversation, InInbox, InboxCursor, InboxPage, inbox_page, page_of};

/// The number of a message in its conversation: 1, 2, 3, … with no gaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Number(pub u64);

impl MessageId {
    /// This id, numbered `n` in its conversation.
    pub fn numbered(&self, n: Number) -> Self {
        let base = self.as_str().rsplit_once('.').map_or(self.as_str(), |(base, _)| base);
        Self::parse(&format!("{base}.{}", n.0)).expect("a generated id stays short")
    }

    /// This id without its number: the id the message had before a store numbered it.
    pub fn unnumbered(&self) -> Self {
        match self.as_str().rsplit_once('.') {
            Some((base, _)) if self.number().is_some() => Self::parse(base).expect("a shorter id"),
            _ => self.clone(),
        }
    }

    /// The number this id carries, if it is one a conversation numbered.
    pub fn number(&self) -> Option<Number> {
        let (_, digits) = self.as_str().rsplit_once('.')?;
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok().map(Number))
            .flatten()
            .filter(|n| n.0 > 0)
    }
}

/// A stretch of a group's messages a user received: those numbered after `from`, up to and
/// including `to` (`None`: still a member). A direct conversation is one span from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub from: u64,
    pub to: Option<u64>,
}

impl Span {
    fn end(self, latest: u64) -> u64 {
        self.to.unwrap_or(latest).max(self.from)
    }
}

/// At most this many spans are kept per user and group: a user who left and rejoined more often
/// than this no longer sees the oldest stretches in the history (never more than they received).
pub const MAX_SPANS: usize = 20;

/// Where a user has read a conversation up to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMark {
    pub number: Number,
    pub message: MessageId,
}

impl ReadMark {
    pub fn of(message: &MessageId) -> Option<Self> {
        message.number().map(|number| Self { number, message: message.clone() })
    }
}

/// One user's side of a conversation: which of its messages they received, how far they read,
/// when they joined (for a group without messages), and the group's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participation {
    pub spans: Vec<Span>,
    pub read: Option<ReadMark>,
    /// Milliseconds since the epoch.
    pub joined_at: u64,
}

impl Participation {
    /// Since the conversation's start: a direct conversation.
    pub fn direct(joined_at: u64) -> Self {
        Self { spans: vec![Span { from: 0, to: None }], read: None, joined_at }
    }

    pub fn is_member(&self) -> bool {
        self.spans.last().is_some_and(|span| span.to.is_none())
    }

    /// Joins at `latest` (the conversation's count then): what comes after is theirs. Joining
    /// while a member changes nothing.
    pub fn join(&mut self, latest: u64, at: u64) {
        if self.is_member() {
            return;
        }
        self.spans.push(Span { from: latest, to: None });
        if self.spans.len() > MAX_SPANS {
            self.spans.remove(0);
        }
        self.joined_at = at;
    }

    pub fn leave(&mut self, latest: u64) {
        if let Some(span) = self.spans.last_mut().filter(|span| span.to.is_none()) {
            span.to = Some(latest.max(span.from));
        }
    }

    pub fn contains(&self, n: Number, latest: u64) -> bool {
        self.spans.iter().any(|span| span.from < n.0 && n.0 <= span.end(latest))
    }

    /// The newest message they may read, with the conversation at `latest`.
    pub fn last_visible(&self, latest: u64) -> Option<Number> {
        self.spans.iter().filter(|span| span.end(latest) > span.from).map(|span| Number(span.end(latest))).max()
    }

    /// Messages they received after their read position (their own sends move it, so these are
    /// others'). Exact at any count.
    pub fn unread(&self, latest: u64) -> u64 {
        self.unread_past(self.read.as_ref().map_or(0, |mark| mark.number.0), latest)
    }

    /// As [`Participation::unread`], with the read position given as a number (a store that
    /// keeps it apart from the side).
    pub fn unread_past(&self, read: u64, latest: u64) -> u64 {
        self.spans.iter().map(|span| span.end(latest).saturating_sub(span.from.max(read))).sum()
    }

    /// Moves the read position to `mark` if that is further; whether it moved.
    pub fn mark_read(&mut self, mark: ReadMark) -> bool {
        if self.read.as_ref().is_some_and(|read| read.number >= mark.number) {
            return false;
        }
        self.read = Some(mark);
        true
    }

    /// The next number to read after `n` going forward (`None`: none yet), skipping what falls
    /// between spans.
    pub fn next_after(&self, n: u64) -> Option<u64> {
        // Nothing comes after the last number there can be (a cursor a client made up).
        n.checked_add(1)?;
        self.spans.iter().filter(|span| span.to.is_none_or(|to| to > n)).map(|span| span.from.max(n) + 1).min()
    }

    /// The next number to read before `n` going back, skipping what falls between spans.
    pub fn next_before(&self, n: u64, latest: u64) -> Option<u64> {
        self.spans
            .iter()
            .filter(|span| span.from + 1 < n && span.end(latest) > span.from)
            .map(|span| span.end(latest).min(n - 1))
            .max()
    }
}

/// What both sides of a conversation share: its count, newest message and when it came.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub latest: u64,
    pub last: Option<MessageJson>,
    /// Milliseconds since the epoch of the newest message.
    pub at: u64,
}

/// A member's read position in a conversation (read receipts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub user: UserId,
    pub read_up_to: Option<MessageId>,
}

/// A conversation with its members' read positions.
#[derive(Clone, Debug)]
pub struct ConversationDetail {
    pub conversation: Conversation,
    pub members: Vec<Receipt>,
}

/// What a read position request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    Moved,
    /// The position was already there or further: nothing changed.
    Unchanged,
}

/// What happened to a user's membership of a group, as their feed tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipChangeKind {
    Added,
    Removed,
}

/// A membership entry in a feed: `{"kind":"membership","group","change","by","at"}`. It has no
/// `text` and its `kind` is neither `direct` nor `group`; a poll returns it only to clients that
/// ask (`include=membership`), so a client that knows only messages never sees one.
pub fn membership_entry(group: &GroupId, change: MembershipChangeKind, by: &UserId, at_millis: u64) -> MessageJson {
    #[derive(Serialize)]
    struct Entry<'a> {
        kind: &'static str,
        group: &'a GroupId,
        change: MembershipChangeKind,
        by: &'a UserId,
        at: String,
    }
    let at = chrono::DateTime::from_timestamp_millis(at_millis as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let entry = Entry { kind: MEMBERSHIP_KIND, group, change, by, at };
    MessageJson::from_stored(&serde_json::to_vec(&entry).expect("an entry serialises")).expect("valid JSON")
}

const MEMBERSHIP_KIND: &str = "membership";

/// Whether a client asked for membership entries (`include=membership`, in a poll's query, a
/// stream's, or a resume).
pub fn include_membership(raw: Option<&str>) -> Result<bool, super::Invalid> {
    match raw {
        None => Ok(false),
        Some(MEMBERSHIP_KIND) => Ok(true),
        Some(_) => Err(super::Invalid::Include),
    }
}

impl MessageJson {
    /// Whether this feed entry is a membership entry rather than a message (entries this server
    /// writes start with their `kind` only when they are membership entries).
    pub fn is_membership(&self) -> bool {
        self.as_bytes().starts_with(b"{\"kind\":\"membership\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(n: u64) -> ReadMark {
        ReadMark { number: Number(n), message: MessageId::generate().numbered(Number(n)) }
    }

    #[test]
    fn ids_carry_their_number_and_renumbering_replaces_it() {
        let id = MessageId::generate();
        assert_eq!(id.number(), None);
        let numbered = id.numbered(Number(42));
        assert_eq!(numbered.number(), Some(Number(42)));
        assert_eq!(numbered.numbered(Number(7)).number(), Some(Number(7)));
        assert_eq!((numbered.unnumbered(), id.unnumbered()), (id.clone(), id.clone()));
        assert!(numbered.as_str().starts_with(id.as_str()));
        for bad in ["m_x.", "m_x.0", "m_x.-1", "m_x.1a", "m_x"] {
            assert_eq!(MessageId::parse(bad).unwrap().number(), None, "{bad}");
        }
    }

    #[test]
    fn spans_decide_what_a_member_sees_and_counts() {
        let mut p = Participation { spans: vec![], read: None, joined_at: 0 };
        p.join(3, 10); // messages 4.. are theirs
        assert!(!p.contains(Number(3), 9) && p.contains(Number(4), 9) && p.contains(Number(9), 9));
        assert_eq!(p.unread(9), 6);
        p.leave(9);
        p.join(12, 20); // 13.. again
        assert_eq!(p.unread(15), 6 + 3);
        assert!(!p.contains(Number(10), 15) && p.contains(Number(13), 15));
        assert_eq!(p.last_visible(15), Some(Number(15)));
        assert!(p.mark_read(mark(13)));
        assert!(!p.mark_read(mark(5)), "never back");
        assert_eq!(p.unread(15), 2);
        assert_eq!(
            (p.next_after(0), p.next_after(4), p.next_after(9), p.next_after(15)),
            (Some(4), Some(5), Some(13), Some(16))
        );
        assert_eq!((p.next_before(13, 15), p.next_before(5, 15), p.next_before(4, 15)), (Some(9), Some(4), None));
        p.leave(15);
        assert_eq!(p.next_after(15), None);
        assert_eq!(p.next_after(u64::MAX), None, "a cursor at the end of numbers");
        assert_eq!(p.last_visible(99), Some(Number(15)));
    }

    #[test]
    fn a_group_joined_without_messages_shows_nothing() {
        let mut p = Participation { spans: vec![], read: None, joined_at: 0 };
        p.join(5, 1);
        assert_eq!((p.last_visible(5), p.unread(5)), (None, 0));
        p.leave(5);
        assert_eq!((p.last_visible(9), p.unread(9)), (None, 0));
    }

    #[test]
    fn membership_entries_are_told_apart_from_messages() {
        let entry = membership_entry(&GroupId::generate(), MembershipChangeKind::Added, &UserId::generate(), 0);
        assert!(entry.is_membership());
        let value: serde_json::Value = serde_json::from_slice(entry.as_bytes()).unwrap();
        assert_eq!((value["kind"].as_str(), value["change"].as_str()), (Some("membership"), Some("added")));
        assert!(value.get("text").is_none());
    }
}
