//! The newest position of each feed the writer has appended to, kept in the writer's memory.
//!
//! Every entry appended to a feed takes "the newest position + 1". Reading that newest position
//! is a B-tree descent of its own before the insert's descent, twice per direct message; the
//! writer is the store's bottleneck under a send load, so it remembers what it wrote instead.
//!
//! Only the writer writes feeds, so what it remembers is what its open transaction holds, as
//! long as it forgets whatever a transaction that is not committed told it (`forget_all`) and
//! a feed that is erased (`forget`). It is bounded: past its capacity it starts over, and feeds
//! are read again as they are appended to.

use std::collections::HashMap;

use crate::domain::{Seq, UserId};

/// Feeds remembered at most, some 60 bytes each: about 8 MiB.
pub const CAPACITY: usize = 1 << 17;

pub struct FeedHeads {
    heads: HashMap<String, u64>,
    capacity: usize,
}

impl FeedHeads {
    pub fn new(capacity: usize) -> Self {
        Self { heads: HashMap::new(), capacity }
    }

    /// The newest position of `user`'s feed, if remembered.
    pub fn get(&self, user: &UserId) -> Option<Seq> {
        self.heads.get(user.as_str()).map(|head| Seq(*head))
    }

    /// `user`'s feed now ends at `head`, in the open transaction.
    pub fn set(&mut self, user: &UserId, head: Seq) {
        if let Some(known) = self.heads.get_mut(user.as_str()) {
            *known = head.0;
            return;
        }
        if self.heads.len() >= self.capacity {
            self.heads.clear();
        }
        self.heads.insert(user.as_str().to_owned(), head.0);
    }

    /// `user`'s feed was erased.
    pub fn forget(&mut self, user: &UserId) {
        self.heads.remove(user.as_str());
    }

    /// The open transaction was not committed: what it told may not have happened.
    pub fn forget_all(&mut self) {
        self.heads.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_each_feed_until_told_to_forget_or_full() {
        let mut heads = FeedHeads::new(2);
        let [a, b, c] = [UserId::generate(), UserId::generate(), UserId::generate()];
        assert_eq!(heads.get(&a), None);
        heads.set(&a, Seq(1));
        heads.set(&a, Seq(2));
        heads.set(&b, Seq(7));
        assert_eq!((heads.get(&a), heads.get(&b)), (Some(Seq(2)), Some(Seq(7))));
        heads.forget(&a);
        assert_eq!(heads.get(&a), None);
        heads.set(&a, Seq(3));
        heads.set(&c, Seq(1));
        assert_eq!((heads.get(&a), heads.get(&b), heads.get(&c)), (None, None, Some(Seq(1))), "full: started over");
        heads.forget_all();
        assert_eq!(heads.get(&c), None);
    }
}
