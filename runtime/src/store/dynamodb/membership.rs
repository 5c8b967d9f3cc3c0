//! Membership changes: the group item, the member's side of the conversation (the span of the
//! group's messages that is theirs), the note an erase finds their groups by, a membership entry
//! in their feed, and their entry in the group's list of its members' spans ([`MEMBERS`], which
//! history pages read) — one transaction, so the five never disagree.

use std::sync::Arc;

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::capacity::{item_size, value_size};
use super::conversations::{side_from, side_key};
use super::groups::{LoadedGroup, stored_group};
use super::items::*;
use super::metrics::Tally;
use super::request::Projection;
use super::retry::cancellation;
use super::schema::{SEQ, SK};
use super::send_marks::SendMark;
use super::{DynamoStore, Outcome, now_millis};
use crate::domain::conversation::{MembershipChangeKind, membership_entry};
use crate::domain::{Group, Participation, ReadMark, Seq, UserId};
use crate::store::{Appended, MembershipChange, StoreError, StoreResult};

/// `user`'s newest message in the group as loaded, if its item records one.
fn sent_mark(found: &LoadedGroup, user: &UserId) -> StoreResult<Option<ReadMark>> {
    let Some(marks) = &found.marks else { return Ok(None) };
    let index = found.group.members.iter().position(|member| member == user);
    Ok(index.and_then(|index| marks.get(index)).and_then(SendMark::read).cloned())
}

impl DynamoStore {
    /// Applies `rule` to the group (starting from `loaded` if the caller read it) and records the
    /// change of `change.user`'s membership (`kind`) until the transaction lands on an unchanged
    /// group; `rule` returns whether there is anything to change. The entry it appended, if any.
    pub(super) async fn change_membership(
        &self,
        change: &MembershipChange,
        kind: MembershipChangeKind,
        mut loaded: Option<LoadedGroup>,
        tally: &mut Tally,
        mut rule: impl FnMut(&mut Group) -> StoreResult<bool>,
    ) -> StoreResult<Option<Appended>> {
        let mut retry = tally.retry();
        loop {
            let found = match loaded.take() {
                Some(found) => found,
                None => self.load_finished(&change.group, tally).await?,
            };
            let mut group = found.group.clone();
            if !rule(&mut group)? {
                return Ok(None);
            }
            let (items, appended) = self.membership_items(change, kind, &group, &found, tally).await?;
            match self.transact(items, tally).await? {
                Outcome::Committed => return Ok(Some(appended)),
                // The group or the member's feed moved meanwhile: read both again.
                Outcome::Cancelled(reasons) => retry.back_off(cancellation(&reasons)).await?,
            }
        }
    }

    async fn membership_items(
        &self,
        change: &MembershipChange,
        kind: MembershipChangeKind,
        group: &Group,
        found: &LoadedGroup,
        tally: &mut Tally,
    ) -> StoreResult<(Vec<TransactWriteItem>, Appended)> {
        let user = &change.user;
        let seq_size = super::capacity::item_size(&std::collections::HashMap::from([(SEQ.to_owned(), n(HEAD_SEQ))]));
        let projection = Projection { expression: "head", names: &[], omitted_bytes: seq_size };
        let side = side_key(user, change.group.as_str());
        let members = entity_key(log_pk(change.group.as_str()), MEMBERS);
        let wanted = vec![
            (self.options.feeds_table.as_str(), vec![feed_key(user, HEAD_SEQ)], Some(projection)),
            (self.options.entities_table.as_str(), vec![side.clone(), members.clone()], None),
        ];
        let got = self.batch_get_tables(wanted, tally).await?;
        let head = got[0].first().map(|item| get_n(item, "head")).transpose()?.unwrap_or(HEAD_SEQ);
        let now = now_millis();
        let found_side = got[1].iter().find(|item| get_s(item, SK).is_ok_and(|sk| sk != MEMBERS));
        let listed = got[1].iter().find(|item| get_s(item, SK).is_ok_and(|sk| sk == MEMBERS));
        // Its update is billed by its size.
        tally.remember(&self.options.entities_table, &members, listed.map_or(0, item_size));
        let mut theirs = match found_side {
            Some(item) => side_from(item)?,
            None => Participation { spans: Vec::new(), read: None, joined_at: now },
        };
        let earlier = !theirs.spans.is_empty();
        match kind {
            MembershipChangeKind::Added => theirs.join(found.latest, now),
            MembershipChangeKind::Removed => theirs.leave(found.latest),
        }
        let mut stored = stored_group(group, found);
        stored.insert(WRITER.into(), s(uuid::Uuid::new_v4().simple().to_string()));
        let put = Put::builder()
            .table_name(&self.options.entities_table)
            .set_item(Some(stored))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(found.version))
            .build()
            .map_err(StoreError::unavailable)?;
        let side_update = self.side_update(side, group, &theirs, kind, sent_mark(found, user)?)?;
        let note = entity_key(user_pk(user), membership_sk(&change.group));
        let note = match kind {
            MembershipChangeKind::Added => self.entity_put(note, None)?,
            MembershipChangeKind::Removed => {
                let delete = Delete::builder().table_name(&self.options.entities_table).set_key(Some(note));
                TransactWriteItem::builder().delete(delete.build().map_err(StoreError::unavailable)?).build()
            }
        };
        let listing = self.listing_update(members, listed, user, kind, member_entry(found.latest, earlier))?;
        let entry = membership_entry(&change.group, kind, &change.caller, now);
        let mut items = vec![TransactWriteItem::builder().put(put).build(), side_update, note, listing];
        items.extend(self.append(user, head, &entry, now)?);
        let appended = Appended { user: user.clone(), seq: Seq(head + 1), entry: Arc::new(entry) };
        Ok((items, appended))
    }

    /// The member's side of the group after the change: their spans (which change only here, under
    /// the group's version) and the group's name; on a removal also their newest message in it,
    /// which only the group item held, as their read position if it is further than the side's.
    /// A read mark may move that position at the same time: the condition cancels the change,
    /// which is then made again from the side as it is.
    fn side_update(
        &self,
        side: Item,
        group: &Group,
        theirs: &Participation,
        kind: MembershipChangeKind,
        sent: Option<ReadMark>,
    ) -> StoreResult<TransactWriteItem> {
        let spans = serde_json::to_string(&theirs.spans).map_err(StoreError::unavailable)?;
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(side))
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(group.name.as_str()))
            .expression_attribute_values(":s", s(spans))
            .expression_attribute_values(":j", n(theirs.joined_at));
        let further = sent.filter(|mark| theirs.read.as_ref().is_none_or(|read| read.number < mark.number));
        let update = match (kind, further) {
            (MembershipChangeKind::Removed, Some(mark)) => update
                .update_expression("SET spans = :s, joined_at = :j, #name = :name, r = :r, ri = :ri")
                .condition_expression("attribute_not_exists(r) OR r < :r")
                .expression_attribute_values(":r", n(mark.number.0))
                .expression_attribute_values(":ri", s(mark.message.as_str())),
            _ => update.update_expression("SET spans = :s, joined_at = :j, #name = :name"),
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(StoreError::unavailable)?).build())
    }

    /// The change of `user`'s entry in the group's list of its members' spans (`listed`, as read),
    /// with the list's size, which the pages that read it are billed by without reading it whole.
    fn listing_update(
        &self,
        members: Item,
        listed: Option<&Item>,
        user: &UserId,
        kind: MembershipChangeKind,
        entry: u64,
    ) -> StoreResult<TransactWriteItem> {
        let name = member_attribute(user);
        let entry = n(entry);
        let before = listed.map_or(0, item_size);
        let old = listed.and_then(|item| item.get(&name)).map_or(0, |value| name.len() as u64 + value_size(value));
        let new = match kind {
            MembershipChangeKind::Added => name.len() as u64 + value_size(&entry),
            MembershipChangeKind::Removed => 0,
        };
        let size = (before.max(listing_size(&members)) + new).saturating_sub(old);
        let listing = Update::builder().table_name(&self.options.entities_table).set_key(Some(members));
        let listing = match kind {
            MembershipChangeKind::Added => {
                listing.update_expression("SET #m = :m, #b = :b").expression_attribute_values(":m", entry)
            }
            MembershipChangeKind::Removed => listing.update_expression("REMOVE #m SET #b = :b"),
        };
        let listing = listing
            .expression_attribute_names("#m", name)
            .expression_attribute_names("#b", LISTING_BYTES)
            .expression_attribute_values(":b", n(size))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().update(listing).build())
    }

    /// A new group's list of its members' spans: its creator's, from its start.
    pub(super) fn members_of_new(group: &Group, owner: &UserId) -> Item {
        let mut item = entity_key(log_pk(group.id.as_str()), MEMBERS);
        item.insert(member_attribute(owner), n(member_entry(0, false)));
        let size = listing_size(&item);
        item.insert(LISTING_BYTES.into(), n(size));
        item
    }

    /// The group's creator's side of it, from its start.
    pub(super) fn creator_side(&self, group: &Group, owner: &UserId) -> StoreResult<Item> {
        let mut side = Participation { spans: Vec::new(), read: None, joined_at: now_millis() };
        side.join(0, side.joined_at);
        let mut item = side_key(owner, group.id.as_str());
        item.insert("name".into(), s(group.name.as_str()));
        item.insert("spans".into(), s(serde_json::to_string(&side.spans).map_err(StoreError::unavailable)?));
        item.insert("joined_at".into(), n(side.joined_at));
        Ok(item)
    }
}
