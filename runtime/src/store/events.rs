//! Deliveries as they commit, for the streams open in this process.
//!
//! A backend that sees every commit (the embedded store: one process, one writer) publishes each
//! feed entry here after its transaction is durable, in commit order. A stream subscribes
//! *before* it reads the feed to catch up, so every entry is either in that read or published
//! after the subscription: together they miss nothing, and the stream skips what it has already
//! sent by position. The feed stays the one source of truth — a subscriber that misses an event
//! (it fell behind) learns so and catches up from the feed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::domain::{Message, MessageJson, Seq, UserId};

/// One feed entry, as committed.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub seq: Seq,
    pub message: Arc<MessageJson>,
}

type Subscribers = HashMap<UserId, Vec<(u64, mpsc::Sender<Delivery>)>>;

/// The subscribers of this process, by user.
#[derive(Debug)]
pub struct FeedEvents {
    subscribers: Mutex<Subscribers>,
    next_id: AtomicU64,
    /// Deliveries a subscriber may have waiting before it counts as fallen behind.
    buffer: usize,
}

impl FeedEvents {
    pub fn new(buffer: usize) -> Arc<Self> {
        Arc::new(Self { subscribers: Mutex::default(), next_id: AtomicU64::new(0), buffer: buffer.max(1) })
    }

    /// Every delivery to `user`'s feed committed from now on, until the subscription is dropped
    /// or falls more than the buffer behind.
    pub fn subscribe(self: &Arc<Self>, user: &UserId) -> Subscription {
        let (sender, receiver) = mpsc::channel(self.buffer);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(user.clone()).or_default().push((id, sender));
        Subscription { events: self.clone(), user: user.clone(), id, receiver }
    }

    /// Hands `message`, committed at these positions, to the subscribers of each feed without ever
    /// waiting: one whose buffer is full is dropped, and sees its subscription end. One lock for
    /// the whole send, and the message is encoded only if someone is listening.
    pub fn publish(&self, message: &Message, positions: &[(UserId, Seq)]) {
        let mut encoded = None;
        self.hand_out(positions, || encoded.get_or_insert_with(|| Arc::new(MessageJson::encode(message))).clone());
    }

    /// As [`FeedEvents::publish`], for an entry already in its stored form (a membership entry).
    pub fn publish_entry(&self, entry: &Arc<MessageJson>, user: &UserId, seq: Seq) {
        self.hand_out(&[(user.clone(), seq)], || entry.clone());
    }

    fn hand_out(&self, positions: &[(UserId, Seq)], mut entry: impl FnMut() -> Arc<MessageJson>) {
        let mut subscribers = self.lock();
        if subscribers.is_empty() {
            return;
        }
        for (user, seq) in positions {
            let Some(list) = subscribers.get_mut(user) else { continue };
            let delivery = Delivery { seq: *seq, message: entry() };
            list.retain(|(_, sender)| sender.try_send(delivery.clone()).is_ok());
            if list.is_empty() {
                subscribers.remove(user);
            }
        }
    }

    #[cfg(test)]
    fn subscriptions(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        // A panic while holding the lock cannot leave the map half-changed in a way that matters.
        self.subscribers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One stream's view of its user's deliveries.
#[derive(Debug)]
pub struct Subscription {
    events: Arc<FeedEvents>,
    user: UserId,
    id: u64,
    receiver: mpsc::Receiver<Delivery>,
}

impl Subscription {
    /// The next delivery, in commit order; `None` once the subscriber fell behind (everything
    /// published before that has been received first).
    pub async fn next(&mut self) -> Option<Delivery> {
        self.receiver.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subscribers = self.events.lock();
        if let Some(list) = subscribers.get_mut(&self.user) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subscribers.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Recipient, Text};

    fn message() -> Message {
        Message::new(UserId::generate(), Recipient::Direct(UserId::generate()), Text::parse("hi".into()).unwrap())
    }

    #[tokio::test]
    async fn subscribers_get_their_users_deliveries_in_order_and_are_dropped_when_full() {
        let events = FeedEvents::new(2);
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let mut first = events.subscribe(&alice);
        let mut second = events.subscribe(&alice);
        let other = events.subscribe(&bob);
        events.publish(&message(), &[(alice.clone(), Seq(1))]);
        events.publish(&message(), &[(alice.clone(), Seq(2))]);
        assert_eq!(first.next().await.unwrap().seq, Seq(1));
        // `second` has two waiting: the third overflows it, not `first`.
        events.publish(&message(), &[(alice.clone(), Seq(3))]);
        assert_eq!(first.next().await.unwrap().seq, Seq(2));
        assert_eq!(first.next().await.unwrap().seq, Seq(3));
        assert_eq!(second.next().await.unwrap().seq, Seq(1));
        assert_eq!(second.next().await.unwrap().seq, Seq(2));
        assert!(second.next().await.is_none(), "fell behind");
        assert_eq!(events.subscriptions(), 2);
        drop(first);
        assert_eq!(events.subscriptions(), 1);
        drop(other);
        assert_eq!(events.subscriptions(), 0);
        drop(second);
    }
}
