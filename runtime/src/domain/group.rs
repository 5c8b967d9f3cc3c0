//! Group membership rules. Stores load a group, apply one of these methods and write the result
//! back inside one transaction, so the rule and the state it was checked against never diverge.

use serde::{Deserialize, Serialize};

use super::error::Rejection;
use super::ids::{GroupId, UserId};
use super::text::Name;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub name: Name,
    pub owner: UserId,
    /// In joining order: the first entry is the longest-standing member.
    pub members: Vec<UserId>,
}

impl Group {
    /// The creator is the owner and first member.
    pub fn new(name: Name, creator: UserId) -> Self {
        Self { id: GroupId::generate(), name, owner: creator.clone(), members: vec![creator] }
    }

    pub fn is_member(&self, user: &UserId) -> bool {
        self.members.contains(user)
    }

    /// Only members may see a group, post to it or add to it.
    pub fn require_member(&self, caller: &UserId) -> Result<(), Rejection> {
        if self.is_member(caller) { Ok(()) } else { Err(Rejection::NotMember) }
    }

    /// Adds `user` (whose existence the caller has checked). Re-adding a member succeeds even
    /// when the group is full; returns whether anything changed.
    pub fn admit(&mut self, user: &UserId, max_members: usize) -> Result<bool, Rejection> {
        if self.is_member(user) {
            return Ok(false);
        }
        if self.members.len() >= max_members {
            return Err(Rejection::GroupFull);
        }
        self.members.push(user.clone());
        Ok(true)
    }

    /// A member may remove themselves; the owner may remove anyone. When the owner leaves,
    /// ownership passes to the longest-standing remaining member; a group whose last member left
    /// keeps its last owner on record but nobody can act on it any more.
    pub fn remove(&mut self, caller: &UserId, target: &UserId) -> Result<(), Rejection> {
        self.require_member(caller)?;
        if caller != target && caller != &self.owner {
            return Err(Rejection::NotOwner);
        }
        let position = self.members.iter().position(|m| m == target).ok_or(Rejection::TargetNotMember)?;
        self.members.remove(position);
        if target == &self.owner
            && let Some(successor) = self.members.first()
        {
            self.owner = successor.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group_of(n: usize) -> (Group, Vec<UserId>) {
        let users: Vec<UserId> = (0..n).map(|_| UserId::generate()).collect();
        let mut group = Group::new(Name::parse("team").unwrap(), users[0].clone());
        for user in &users[1..] {
            assert_eq!(group.admit(user, 100), Ok(true));
        }
        (group, users)
    }

    #[test]
    fn readding_is_a_no_op_even_when_full() {
        let (mut group, users) = group_of(3);
        assert_eq!(group.admit(&users[1], 3), Ok(false));
        assert_eq!(group.admit(&UserId::generate(), 3), Err(Rejection::GroupFull));
    }

    #[test]
    fn only_self_or_owner_may_remove() {
        let (mut group, users) = group_of(3);
        assert_eq!(group.remove(&users[1], &users[2]), Err(Rejection::NotOwner));
        assert_eq!(group.remove(&UserId::generate(), &users[1]), Err(Rejection::NotMember));
        assert_eq!(group.remove(&users[0], &UserId::generate()), Err(Rejection::TargetNotMember));
        assert_eq!(group.remove(&users[2], &users[2]), Ok(()));
        assert_eq!(group.remove(&users[0], &users[1]), Ok(()));
        assert_eq!(group.members, vec![users[0].clone()]);
    }

    #[test]
    fn ownership_passes_to_the_longest_standing_member() {
        let (mut group, users) = group_of(3);
        group.remove(&users[0], &users[0]).unwrap();
        assert_eq!(group.owner, users[1]);
        group.remove(&users[1], &users[1]).unwrap();
        group.remove(&users[2], &users[2]).unwrap();
        assert!(group.members.is_empty());
        assert_eq!(group.owner, users[2]);
    }
}
