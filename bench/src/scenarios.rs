//! The closed-loop workers. Each worker rotates through its own users, so no user exceeds the
//! default per-user rate limit (which stays on: it is part of what production pays for).

use std::sync::Arc;

use hyper::StatusCode;
use runtime::domain::{Cursor, Seq};

use crate::client::Conn;
use crate::dataset::{Dataset, Rng, text};
use crate::load::Worker;

pub struct Health;

impl Worker for Health {
    async fn step(&mut self, conn: &mut Conn) -> bool {
        matches!(conn.get("/health", None).await, Ok((StatusCode::OK, _)))
    }
}

#[derive(Clone, Copy)]
pub enum PollMode {
    /// Always from the feed's start with this page size (the same page every time).
    FromStart(usize),
    /// Follow `next` with this page size, and start over at the end of the feed.
    Advance(usize),
}

/// The `next` cursor of a feed page and whether the page had messages, read from the bytes
/// without parsing the page: the load generator shares the server's cores and must stay light.
pub fn scan_page(body: &[u8]) -> Option<(bool, String)> {
    const EMPTY: &[u8] = br#"{"messages":[]"#;
    const NEXT: &[u8] = br#""next":""#;
    let start = body.windows(NEXT.len()).rposition(|w| w == NEXT)? + NEXT.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    let next = std::str::from_utf8(&body[start..start + len]).ok()?.to_owned();
    Some((!body.starts_with(EMPTY), next))
}

/// `GET /v1/messages` as each of `users` in turn, with each user's own cursor.
pub struct Poll {
    data: Arc<Dataset>,
    users: Vec<usize>,
    cursors: Vec<Option<String>>,
    mode: PollMode,
    turn: usize,
}

impl Poll {
    pub fn new(data: Arc<Dataset>, users: Vec<usize>, mode: PollMode) -> Self {
        // Start from an explicit cursor, as a client that has polled before does.
        let cursors =
            users.iter().map(|&u| Some(data.keys.encode_cursor(&data.users[u], Cursor(Seq::START)))).collect();
        Self { data, users, cursors, mode, turn: 0 }
    }
}

impl Worker for Poll {
    async fn step(&mut self, conn: &mut Conn) -> bool {
        let slot = self.turn % self.users.len();
        self.turn += 1;
        let user = self.users[slot];
        let limit = match self.mode {
            PollMode::FromStart(limit) | PollMode::Advance(limit) => limit,
        };
        let path = match &self.cursors[slot] {
            Some(cursor) => format!("/v1/messages?after={cursor}&limit={limit}"),
            None => format!("/v1/messages?limit={limit}"),
        };
        let Ok((StatusCode::OK, body)) = conn.get(&path, Some(&self.data.tokens[user])).await else {
            return false;
        };
        let Some((had_messages, next)) = scan_page(&body) else {
            return false;
        };
        if let PollMode::Advance(_) = self.mode {
            self.cursors[slot] = if had_messages { Some(next) } else { None };
        }
        true
    }
}

/// Direct messages from each of `senders` in turn to random users of `recipients`.
pub struct SendDirect {
    data: Arc<Dataset>,
    senders: Vec<usize>,
    recipients: std::ops::Range<usize>,
    rng: Rng,
    turn: usize,
}

impl SendDirect {
    pub fn new(data: Arc<Dataset>, senders: Vec<usize>, recipients: std::ops::Range<usize>, seed: u64) -> Self {
        Self { data, senders, recipients, rng: Rng::new(seed), turn: 0 }
    }
}

impl Worker for SendDirect {
    async fn step(&mut self, conn: &mut Conn) -> bool {
        let from = self.senders[self.turn % self.senders.len()];
        self.turn += 1;
        let to = self.recipients.start + self.rng.below(self.recipients.len());
        let path = format!("/v1/users/{}/messages", self.data.users[to]);
        let body = serde_json::json!({ "text": text(self.turn) }).to_string();
        matches!(conn.post(&path, &self.data.tokens[from], body).await, Ok((StatusCode::CREATED, _)))
    }
}

/// Group messages: each of `groups` in turn, sent by its members in turn.
pub struct SendGroup {
    data: Arc<Dataset>,
    groups: Vec<usize>,
    turn: usize,
}

impl SendGroup {
    pub fn new(data: Arc<Dataset>, groups: Vec<usize>) -> Self {
        Self { data, groups, turn: 0 }
    }
}

impl Worker for SendGroup {
    async fn step(&mut self, conn: &mut Conn) -> bool {
        let (group, members) = &self.data.groups[self.groups[self.turn % self.groups.len()]];
        let from = members[(self.turn / self.groups.len()) % members.len()];
        self.turn += 1;
        let path = format!("/v1/groups/{group}/messages");
        let body = serde_json::json!({ "text": text(self.turn) }).to_string();
        matches!(conn.post(&path, &self.data.tokens[from], body).await, Ok((StatusCode::CREATED, _)))
    }
}

/// Splits `items` into `parts` interleaved slices, one per worker.
pub fn deal<T: Clone>(items: &[T], parts: usize) -> Vec<Vec<T>> {
    (0..parts).map(|p| items.iter().skip(p).step_by(parts).cloned().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::scan_page;

    #[test]
    fn pages_are_scanned_for_next_and_emptiness() {
        let empty = br#"{"messages":[],"next":"AAA_-b","has_more":false}"#;
        assert_eq!(scan_page(empty), Some((false, "AAA_-b".to_owned())));
        let full = br#"{"messages":[{"id":"m_1","text":"\"next\":\"x"}],"next":"BBB","has_more":true}"#;
        assert_eq!(scan_page(full), Some((true, "BBB".to_owned())));
        assert_eq!(scan_page(br#"{"error":{}}"#), None);
    }
}
