//! Each member's newest message in a group, on the group item (`sent`: a list in the order of
//! `members`). A member's own send moves their read position past everything before it; keeping
//! that position here instead of on their side of the conversation costs a send no item of its
//! own, because every send to the group writes the group item anyway (its count and newest
//! message). A member's read position is the later of their side's (set by read marks) and this
//! one; a removal moves this one onto their side, in the membership transaction.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::capacity::value_size;
use super::items::Item;
use crate::domain::{Group, MessageId, ReadMark, UserId};
use crate::store::{StoreError, StoreResult};

/// The group item's list of its members' newest messages.
pub const SENT: &str = "sent";

/// Prefix of the message ids this server generates (`m_` and a UUID's 32 hex digits, then `.n`).
const GENERATED: &str = "m_";

/// One member's entry in [`SENT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendMark {
    /// A member from before the list (of a group from before it, or added at its creation):
    /// their side of the conversation may not exist, so their first send writes it.
    Unknown,
    /// A member since the list (their side exists) who sent nothing since they joined.
    Nothing,
    /// Their newest message.
    At(ReadMark),
}

impl SendMark {
    /// As stored: a null for nothing sent and `false` for a member the list does not know (one
    /// byte each: every member has an entry), else the message id — 24 bytes (its UUID and
    /// number) when it is one this server generated, which keeps 5,000 members' marks to 125 KB.
    pub fn encode(&self) -> AttributeValue {
        match self {
            Self::Unknown => AttributeValue::Bool(false),
            Self::Nothing => AttributeValue::Null(true),
            Self::At(mark) => match compact(mark) {
                Some(bytes) => AttributeValue::B(Blob::new(bytes)),
                None => AttributeValue::S(mark.message.as_str().to_owned()),
            },
        }
    }

    pub fn decode(value: &AttributeValue) -> StoreResult<Self> {
        let corrupt = || StoreError::unavailable("corrupt send mark");
        let id = match value {
            AttributeValue::Bool(_) => return Ok(Self::Unknown),
            AttributeValue::Null(_) => return Ok(Self::Nothing),
            AttributeValue::S(raw) => MessageId::parse(raw).ok_or_else(corrupt)?,
            AttributeValue::B(blob) => expand(blob.as_ref()).ok_or_else(corrupt)?,
            _ => return Err(corrupt()),
        };
        ReadMark::of(&id).map(Self::At).ok_or_else(corrupt)
    }

    pub fn read(&self) -> Option<&ReadMark> {
        match self {
            Self::At(mark) => Some(mark),
            Self::Unknown | Self::Nothing => None,
        }
    }
}

/// The UUID's 16 bytes and the number's 8, if the id is exactly what they print back to.
fn compact(mark: &ReadMark) -> Option<Vec<u8>> {
    let (base, _) = mark.message.as_str().rsplit_once('.')?;
    let uuid = uuid::Uuid::try_parse(base.strip_prefix(GENERATED)?).ok()?;
    let mut bytes = uuid.as_bytes().to_vec();
    bytes.extend_from_slice(&mark.number.0.to_be_bytes());
    let back = expand(&bytes)?;
    (back == mark.message).then_some(bytes)
}

fn expand(bytes: &[u8]) -> Option<MessageId> {
    let (uuid, number) = bytes.split_at_checked(16)?;
    let uuid = uuid::Uuid::from_slice(uuid).ok()?;
    let number = u64::from_be_bytes(number.try_into().ok()?);
    MessageId::parse(&format!("{GENERATED}{}.{number}", uuid.simple()))
}

/// The marks of a new group: its owner's side is written with it, its other members' are not.
pub fn new_marks(group: &Group) -> AttributeValue {
    let marks = group.members.iter().map(|member| match member == &group.owner {
        true => SendMark::Nothing,
        false => SendMark::Unknown,
    });
    AttributeValue::L(marks.map(|mark| mark.encode()).collect())
}

/// The group item's marks, in the order of its members; `None` when it has none in that order
/// (a group from before them).
pub fn marks_of(item: &Item) -> StoreResult<Option<Vec<SendMark>>> {
    let (Some(AttributeValue::L(members)), Some(AttributeValue::L(marks))) = (item.get("members"), item.get(SENT))
    else {
        return Ok(None);
    };
    if members.len() != marks.len() {
        return Ok(None);
    }
    marks.iter().map(SendMark::decode).collect::<StoreResult<_>>().map(Some)
}

/// `user`'s newest message in the group whose item this is, if the item records one — found
/// without parsing the other members.
pub fn mark_of(item: &Item, user: &UserId) -> StoreResult<Option<ReadMark>> {
    let (Some(AttributeValue::L(members)), Some(AttributeValue::L(marks))) = (item.get("members"), item.get(SENT))
    else {
        return Ok(None);
    };
    if members.len() != marks.len() {
        return Ok(None);
    }
    let Some(index) = members.iter().position(|m| m.as_s().is_ok_and(|m| m == user.as_str())) else {
        return Ok(None);
    };
    Ok(SendMark::decode(&marks[index])?.read().cloned())
}

/// The marks to store for `group`'s members after a membership change, from the group as it was
/// (`members`, `marks`): a member kept keeps theirs, one who joined now has `Nothing` (their side
/// is written with the change).
pub fn changed_marks(group: &Group, members: &[UserId], marks: Option<&[SendMark]>) -> AttributeValue {
    let entries = group.members.iter().map(|member| match members.iter().position(|m| m == member) {
        Some(index) => marks.and_then(|marks| marks.get(index)).cloned().unwrap_or(SendMark::Unknown),
        None => SendMark::Nothing,
    });
    AttributeValue::L(entries.map(|mark| mark.encode()).collect())
}

/// How a send's mark is written: the member's entry alone when the list is in order (`index`),
/// else the whole list; and by how many bytes the item grows.
pub struct MarkWrite {
    pub path: String,
    pub value: AttributeValue,
    pub growth: u64,
    /// The sender's side of the conversation may not exist: the send writes it too.
    pub unknown: bool,
}

/// The write of `sender`'s mark at `message`, into the marks as loaded.
pub fn mark_write(members: &[UserId], marks: Option<&[SendMark]>, sender: &UserId, message: &MessageId) -> MarkWrite {
    let mine = SendMark::At(ReadMark::of(message).expect("numbered before it is written"));
    let index = members.iter().position(|m| m == sender).expect("a member sends");
    match marks {
        Some(marks) => {
            let old = value_size(&marks[index].encode());
            let value = mine.encode();
            let growth = value_size(&value).saturating_sub(old);
            MarkWrite { path: format!("#sent[{index}]"), value, growth, unknown: marks[index] == SendMark::Unknown }
        }
        None => {
            let list = members.iter().map(|m| if m == sender { mine.clone() } else { SendMark::Unknown });
            let value = AttributeValue::L(list.map(|mark| mark.encode()).collect());
            let growth = SENT.len() as u64 + value_size(&value);
            MarkWrite { path: "#sent".to_owned(), value, growth, unknown: true }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Name;

    use crate::domain::Number;

    fn at(n: u64) -> ReadMark {
        ReadMark::of(&MessageId::generate().numbered(Number(n))).unwrap()
    }

    #[test]
    fn marks_round_trip_and_generated_ids_take_24_bytes() {
        for mark in [SendMark::Unknown, SendMark::Nothing, SendMark::At(at(1)), SendMark::At(at(u64::MAX))] {
            assert_eq!(SendMark::decode(&mark.encode()).unwrap(), mark);
        }
        assert_eq!(value_size(&SendMark::At(at(7)).encode()), 24);
        // An id this server did not generate is kept as it is.
        let odd = ReadMark::of(&MessageId::parse("m_ABC.3").unwrap()).unwrap();
        assert_eq!(SendMark::At(odd.clone()).encode(), AttributeValue::S("m_ABC.3".into()));
        assert_eq!(SendMark::decode(&SendMark::At(odd.clone()).encode()).unwrap(), SendMark::At(odd));
        let upper = MessageId::generate().as_str().to_uppercase().replace("M_", "m_");
        let upper = ReadMark::of(&MessageId::parse(&format!("{upper}.2")).unwrap()).unwrap();
        assert!(matches!(SendMark::At(upper).encode(), AttributeValue::S(_)), "printed back differently");
        assert!(SendMark::decode(&AttributeValue::B(Blob::new(vec![1, 2]))).is_err());
    }

    #[test]
    fn a_membership_change_keeps_each_members_mark_and_starts_a_newcomers() {
        let owner = UserId::generate();
        let mut group = Group::new(Name::parse("g").unwrap(), owner.clone());
        let (bob, carol) = (UserId::generate(), UserId::generate());
        group.members.push(bob.clone());
        let mut item = crate::store::dynamodb::items::group_item(&group, 1);
        assert_eq!(marks_of(&item).unwrap(), Some(vec![SendMark::Nothing, SendMark::Unknown]));
        let before = group.members.clone();
        let marks = [SendMark::At(at(4)), SendMark::Unknown];
        group.members.retain(|m| m != &owner);
        group.members.push(carol);
        let changed = changed_marks(&group, &before, Some(&marks));
        item.insert("members".into(), crate::store::dynamodb::items::users_attribute(&group.members));
        item.insert(SENT.into(), changed);
        assert_eq!(marks_of(&item).unwrap(), Some(vec![SendMark::Unknown, SendMark::Nothing]));
        assert_eq!(mark_of(&item, &bob).unwrap(), None);
        let write = mark_write(&group.members, Some(&[SendMark::Unknown, SendMark::Nothing]), &bob, &at(9).message);
        assert_eq!((write.path.as_str(), write.growth, write.unknown), ("#sent[0]", 23, true));
        // Out of order (a group from before the list): the whole list, the others unknown.
        let write = mark_write(&group.members, None, &group.members[1], &at(9).message);
        assert_eq!(write.path, "#sent");
        let AttributeValue::L(list) = &write.value else { panic!("a list") };
        assert_eq!(SendMark::decode(&list[0]).unwrap(), SendMark::Unknown);
    }
}
