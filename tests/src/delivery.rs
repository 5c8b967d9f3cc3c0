//! The one verdict of the concurrency attacks: a poller's view of a feed.

use std::collections::{HashMap, HashSet};

/// Asserts that `seen` (message ids in the order a poller received them) holds every id of
/// `expected` exactly once and nothing else, and that each sender's messages (`sent`, one list
/// per sender in sending order) appear in the order they were sent.
#[track_caller]
pub fn assert_exactly_once_in_order(who: &str, seen: &[String], expected: &HashSet<String>, sent: &[Vec<String>]) {
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "{who} received a message twice");
    assert_eq!(unique, expected.iter().collect::<HashSet<_>>(), "{who} lost messages or received foreign ones");
    let position: HashMap<&String, usize> = seen.iter().enumerate().map(|(i, id)| (id, i)).collect();
    for by_sender in sent {
        let order: Vec<usize> = by_sender.iter().filter_map(|id| position.get(id).copied()).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{who} received a sender's messages out of order");
    }
}
