//! Membership changes: the group item, the member's side of the conversation (the span of the
//! group's messages that is theirs), the note an erase finds their groups by, and a membership
//! entry in their feed — one transaction, so the four never disagree.

use std::sync::Arc;

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};

use super::conversations::{side_from, side_key};
use super::groups::{LoadedGroup, stored_group};
use super::items::*;
use super::metrics::Tally;
use super::request::Projection;
use super::retry::cancellation;
use super::schema::SEQ;
use super::{DynamoStore, Outcome, now_millis};
use crate::domain::conversation::{MembershipChangeKind, membership_entry};
use crate::domain::{Group, Participation, Seq, UserId};
use crate::store::{Appended, MembershipChange, StoreError, StoreResult};

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
        let wanted = vec![
            (self.options.feeds_table.as_str(), vec![feed_key(user, HEAD_SEQ)], Some(projection)),
            (self.options.entities_table.as_str(), vec![side.clone()], None),
        ];
        let got = self.batch_get_tables(wanted, tally).await?;
        let head = got[0].first().map(|item| get_n(item, "head")).transpose()?.unwrap_or(HEAD_SEQ);
        let now = now_millis();
        let mut theirs = match got[1].first() {
            Some(item) => side_from(item)?,
            None => Participation { spans: Vec::new(), read: None, joined_at: now },
        };
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
        let spans = serde_json::to_string(&theirs.spans).map_err(StoreError::unavailable)?;
        // Spans change only here, under the group's version; the read position beside them may
        // move at the same time (a send, a read mark), so it is left as it is.
        let side_update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(side))
            .update_expression("SET spans = :s, joined_at = :j, #name = :name")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(group.name.as_str()))
            .expression_attribute_values(":s", s(spans))
            .expression_attribute_values(":j", n(theirs.joined_at))
            .build()
            .map_err(StoreError::unavailable)?;
        let note = entity_key(user_pk(user), membership_sk(&change.group));
        let note = match kind {
            MembershipChangeKind::Added => self.entity_put(note, None)?,
            MembershipChangeKind::Removed => {
                let delete = Delete::builder().table_name(&self.options.entities_table).set_key(Some(note));
                TransactWriteItem::builder().delete(delete.build().map_err(StoreError::unavailable)?).build()
            }
        };
        let entry = membership_entry(&change.group, kind, &change.caller, now);
        let mut items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(side_update).build(),
            note,
        ];
        items.extend(self.append(user, head, &entry, now)?);
        let appended = Appended { user: user.clone(), seq: Seq(head + 1), entry: Arc::new(entry) };
        Ok((items, appended))
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
