//! The inbox: a user's conversations, most recent activity first, in pages.

use super::conversation::ConversationId;
use super::ids::MessageId;
use super::message::MessageJson;
use super::text::Name;

/// A conversation as the inbox shows it.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: ConversationId,
    pub name: Name,
    pub last_message: Option<MessageJson>,
    pub unread: u64,
    pub read_up_to: Option<MessageId>,
    /// Milliseconds since the epoch: the newest message they received, or when they joined.
    pub updated_at: u64,
}

impl Conversation {
    /// The inbox's order: most recent first, then by id.
    pub fn order_key(&self) -> (std::cmp::Reverse<u64>, String) {
        (std::cmp::Reverse(self.updated_at), self.id.as_str().to_owned())
    }
}

/// A page of the inbox, and where the next starts.
#[derive(Clone, Debug)]
pub struct InboxPage {
    pub conversations: Vec<Conversation>,
    pub next: Option<InboxCursor>,
}

/// Where an inbox page ends: the last conversation's activity and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxCursor {
    pub updated_at: u64,
    pub id: String,
}

impl InboxCursor {
    pub fn of(conversation: &Conversation) -> Self {
        Self { updated_at: conversation.updated_at, id: conversation.id.as_str().to_owned() }
    }

    /// Whether `conversation` comes after this cursor in the inbox's order.
    pub fn precedes(&self, conversation: &Conversation) -> bool {
        (std::cmp::Reverse(self.updated_at), self.id.clone()) < conversation.order_key()
    }
}

/// Sorts every conversation of a user into the inbox's order and cuts the page after `before`.
pub fn inbox_page(mut all: Vec<Conversation>, before: Option<&InboxCursor>, limit: usize) -> InboxPage {
    all.sort_by_key(Conversation::order_key);
    let mut rest: Vec<Conversation> =
        all.into_iter().filter(|c| before.is_none_or(|cursor| cursor.precedes(c))).collect();
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next = more.then(|| InboxCursor::of(rest.last().expect("a full page")));
    InboxPage { conversations: rest, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_pages_follow_activity_then_id() {
        let conversation = |id: &str, at| Conversation {
            id: ConversationId::parse(id).unwrap(),
            name: Name::parse("x").unwrap(),
            last_message: None,
            unread: 0,
            read_up_to: None,
            updated_at: at,
        };
        let all = vec![conversation("u_a", 1), conversation("u_b", 3), conversation("g_c", 3), conversation("u_d", 2)];
        let first = inbox_page(all.clone(), None, 2);
        let ids: Vec<_> = first.conversations.iter().map(|c| c.id.as_str().to_owned()).collect();
        assert_eq!(ids, ["g_c", "u_b"]);
        let second = inbox_page(all, first.next.as_ref(), 2);
        let ids: Vec<_> = second.conversations.iter().map(|c| c.id.as_str().to_owned()).collect();
        assert_eq!((ids, second.next), (vec!["u_d".to_owned(), "u_a".to_owned()], None));
    }
}
