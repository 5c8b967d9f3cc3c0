//! Each direct conversation's head: its newest entry and its two users' read positions, in one
//! record of [`DIRECT_HEADS`](super::tables::DIRECT_HEADS) under the conversation's first message key.
//!
//! An inbox reads the head of every direct conversation its user has — a thousand of them for an
//! active user — so a head is one lookup of a `u64` key: found next to its log's newest entry it
//! took a range over string keys, two descents of the log's tree, each key compared as text.
//! A send writes it in place of the read positions it wrote beside the log before, so a direct
//! message still writes two records for its conversation (its log entry and the head).

use redb::ReadableTable;

use super::conversations::{Newest, Reads};
use super::tables::{DirectHeadValue, storage};
use crate::domain::UserId;
use crate::store::StoreResult;

/// A direct conversation's head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectHead {
    /// Its newest entry: (number, message key, `sent_at` ms); `None` before any.
    pub newest: Newest,
    /// Its users' read positions: the lower user id's, the higher's.
    pub reads: Reads,
}

impl DirectHead {
    fn from_value((n, key, at, low, high): DirectHeadValue) -> Self {
        Self { newest: (n > 0).then_some((n, key, at)), reads: (low, high) }
    }

    pub fn value(&self) -> DirectHeadValue {
        let (n, key, at) = self.newest.unwrap_or((0, 0, 0));
        (n, key, at, self.reads.0, self.reads.1)
    }

    /// The conversation's count: the number of its newest message.
    pub fn latest(&self) -> u64 {
        self.newest.map_or(0, |(n, _, _)| n)
    }

    /// The number `user` has read up to in their conversation with `peer`.
    pub fn read_of(&self, user: &UserId, peer: &UserId) -> u64 {
        if user <= peer { self.reads.0 } else { self.reads.1 }
    }

    /// Moves `user`'s read position to `n` if that is further; whether it moved.
    pub fn read_to(&mut self, user: &UserId, peer: &UserId, n: u64) -> bool {
        let (low, high) = &mut self.reads;
        let (mine, theirs) = if user <= peer { (low, high) } else { (high, low) };
        if *mine >= n {
            return false;
        }
        *mine = n;
        if user == peer {
            *theirs = n; // notes to self: both slots are theirs
        }
        true
    }
}

/// The head of the direct conversation that began with the message under `first` (an empty one
/// if it has none yet).
pub fn direct_head(heads: &impl ReadableTable<u64, DirectHeadValue>, first: u64) -> StoreResult<DirectHead> {
    Ok(heads.get(first).map_err(storage)?.map(|head| DirectHead::from_value(head.value())).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips_its_record() {
        for head in [
            DirectHead::default(),
            DirectHead { newest: Some((3, 77, 1_700_000_000_000)), reads: (3, 1) },
            DirectHead { newest: Some((u64::MAX - 1, u64::MAX, 0)), reads: (0, u64::MAX - 1) },
        ] {
            assert_eq!(DirectHead::from_value(head.value()), head);
        }
    }
}
