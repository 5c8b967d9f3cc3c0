//! Conversation reads and writes: the inbox of users with many conversations, a page of a
//! conversation's history, and marking it read — closed loops like the other scenarios.

use std::sync::Arc;

use futures::StreamExt;
use hyper::StatusCode;
use runtime::domain::message::Outgoing;
use runtime::domain::{Message, Recipient, Text};
use runtime::store::Store;
use runtime::store::embedded::EmbeddedStore;

use crate::client::Conn;
use crate::dataset::{Dataset, text};
use crate::load::Worker;

/// Messages in each talker's conversation with the shared peer.
pub const LONG: usize = 60;
/// Messages a history page asks for.
pub const PAGE: usize = 50;

/// Users with many conversations (the inbox's readers), and users with one long conversation
/// each (history and read positions): enough of the latter that none exceeds the per-user rate
/// limit at full speed.
pub struct Readers {
    pub inbox: Vec<usize>,
    pub talkers: Vec<usize>,
    /// Who writes to every talker.
    pub peer: usize,
    /// Each talker's conversation's message ids, oldest first.
    pub long: Vec<Vec<String>>,
}

impl Readers {
    pub fn none() -> Self {
        Self { inbox: Vec::new(), talkers: Vec::new(), peer: 0, long: Vec::new() }
    }
}

/// Adds `readers` users with `conversations` peers each (every peer writes once to every
/// reader), and `talkers` users to whom one more user writes [`LONG`] times.
pub async fn add_readers(
    data: &mut Dataset,
    store: &Arc<EmbeddedStore>,
    readers: usize,
    conversations: usize,
    talkers: usize,
) -> Readers {
    let first = data.users.len();
    data.add_users(store, readers + conversations + talkers + 1).await;
    let inbox: Vec<usize> = (first..first + readers).collect();
    let peers = first + readers..first + readers + conversations;
    let pairs: Vec<(usize, usize)> =
        inbox.iter().flat_map(|&reader| peers.clone().map(move |peer| (peer, reader))).collect();
    data.add_direct_messages(store, pairs).await;
    let talkers: Vec<usize> = (peers.end..peers.end + talkers).collect();
    let peer = peers.end + talkers.len();
    let sends = talkers.iter().flat_map(|&talker| (0..LONG).map(move |i| (talker, i))).map(|(talker, i)| {
        let message = Message::new(
            data.users[peer].clone(),
            Recipient::Direct(data.users[talker].clone()),
            Text::parse(text(i)).unwrap(),
        );
        async move { (talker, store.send(&Outgoing { message, client_id: None }).await.expect("send").message) }
    });
    let sent: Vec<(usize, Message)> = futures::stream::iter(sends).buffer_unordered(512).collect().await;
    let mut long = vec![Vec::new(); talkers.len()];
    for (talker, message) in sent {
        long[talker - talkers[0]].push(message);
    }
    let long = long
        .into_iter()
        .map(|mut messages| {
            messages.sort_by_key(|message| message.id.number());
            messages.into_iter().map(|message| message.id.to_string()).collect()
        })
        .collect();
    Readers { inbox, talkers, peer, long }
}

/// What each step of a reader does.
#[derive(Clone, Copy)]
pub enum Action {
    /// `GET /v1/conversations?limit=100`.
    Inbox,
    /// `GET /v1/conversations/{peer}/messages?limit=50` of a talker.
    History,
    /// `PUT /v1/conversations/{peer}/read` of a talker, a message further each time (then the
    /// last).
    MarkRead,
}

/// Each of `users` (indices into the inbox readers or the talkers) in turn does `action`.
pub struct Reader {
    data: Arc<Dataset>,
    readers: Arc<Readers>,
    users: Vec<usize>,
    action: Action,
    turn: usize,
}

impl Reader {
    pub fn new(data: Arc<Dataset>, readers: Arc<Readers>, users: Vec<usize>, action: Action) -> Self {
        Self { data, readers, users, action, turn: 0 }
    }
}

impl Worker for Reader {
    async fn step(&mut self, conn: &mut Conn) -> bool {
        let slot = self.users[self.turn % self.users.len()];
        let round = self.turn / self.users.len();
        self.turn += 1;
        let peer = &self.data.users[self.readers.peer];
        match self.action {
            Action::Inbox => {
                let token = &self.data.tokens[self.readers.inbox[slot]];
                matches!(conn.get("/v1/conversations?limit=100", Some(token)).await, Ok((StatusCode::OK, _)))
            }
            Action::History => {
                let token = &self.data.tokens[self.readers.talkers[slot]];
                let path = format!("/v1/conversations/{peer}/messages?limit={PAGE}");
                matches!(conn.get(&path, Some(token)).await, Ok((StatusCode::OK, _)))
            }
            Action::MarkRead => {
                let token = &self.data.tokens[self.readers.talkers[slot]];
                let ids = &self.readers.long[slot];
                let body = serde_json::json!({ "up_to": ids[round.min(ids.len() - 1)] }).to_string();
                let path = format!("/v1/conversations/{peer}/read");
                matches!(conn.put(&path, token, body).await, Ok((StatusCode::NO_CONTENT, _)))
            }
        }
    }
}
