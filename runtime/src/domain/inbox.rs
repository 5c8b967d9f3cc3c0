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

/// What the inbox orders by: the newest activity first, then the id.
pub trait InInbox {
    /// Milliseconds since the epoch.
    fn updated_at(&self) -> u64;
    fn inbox_id(&self) -> &str;
}

impl InInbox for Conversation {
    fn updated_at(&self) -> u64 {
        self.updated_at
    }

    fn inbox_id(&self) -> &str {
        self.id.as_str()
    }
}

fn inbox_order(a: &impl InInbox, b: &impl InInbox) -> std::cmp::Ordering {
    b.updated_at().cmp(&a.updated_at()).then_with(|| a.inbox_id().cmp(b.inbox_id()))
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

impl InInbox for InboxCursor {
    fn updated_at(&self) -> u64 {
        self.updated_at
    }

    fn inbox_id(&self) -> &str {
        &self.id
    }
}

impl InboxCursor {
    pub fn of(item: &impl InInbox) -> Self {
        Self { updated_at: item.updated_at(), id: item.inbox_id().to_owned() }
    }

    /// Whether `item` comes after this cursor in the inbox's order.
    pub fn precedes(&self, item: &impl InInbox) -> bool {
        inbox_order(self, item).is_lt()
    }
}

/// Sorts every item into the inbox's order and cuts the page after `before`; the cursor of the
/// next page if there is one. Stores order cheap stand-ins and build only the page's
/// conversations in full.
pub fn page_of<T: InInbox>(
    mut all: Vec<T>,
    before: Option<&InboxCursor>,
    limit: usize,
) -> (Vec<T>, Option<InboxCursor>) {
    all.retain(|item| before.is_none_or(|cursor| cursor.precedes(item)));
    let more = all.len() > limit;
    if more {
        // The page's items first, in linear time (the order is total: ids differ), so a page of
        // 100 of 1,000 conversations sorts 100.
        all.select_nth_unstable_by(limit, inbox_order);
        all.truncate(limit);
    }
    all.sort_unstable_by(inbox_order);
    let next = more.then(|| InboxCursor::of(all.last().expect("a full page")));
    (all, next)
}

/// Sorts every conversation of a user into the inbox's order and cuts the page after `before`.
pub fn inbox_page(all: Vec<Conversation>, before: Option<&InboxCursor>, limit: usize) -> InboxPage {
    let (conversations, next) = page_of(all, before, limit);
    InboxPage { conversations, next }
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
