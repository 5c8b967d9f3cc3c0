//! Read positions on DynamoDB: one transaction that checks the message is the conversation's
//! and moves the position only forward; and what an erase leaves of a direct conversation.

use aws_sdk_dynamodb::types::{ConditionCheck, ReturnConsumedCapacity, TransactWriteItem, Update};

use super::conversations::{log_key, side_key, summary_key};
use super::items::*;
use super::metrics::{Kind, Tally};
use super::{DynamoStore, Outcome, failed, sdk_error};
use crate::domain::conversation::ReadOutcome;
use crate::domain::{ConversationId, ReadMark, Rejection, UserId};
use crate::store::{StoreError, StoreResult};

impl DynamoStore {
    /// One transaction: the message must be the conversation's (its log item holds its id), and
    /// the position moves only forward.
    pub(super) async fn mark_read_now(
        &self,
        user: &UserId,
        id: &ConversationId,
        mark: &ReadMark,
        tally: &mut Tally,
    ) -> StoreResult<ReadOutcome> {
        let shared = id.shared_key(user);
        let check = ConditionCheck::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(log_key(&shared, mark.number.0)))
            .condition_expression("mid = :id")
            .expression_attribute_values(":id", s(mark.message.as_str()))
            .build()
            .map_err(StoreError::unavailable)?;
        let (key, r, ri) = match id {
            ConversationId::Direct(_) => (summary_key(user, id), format!("r_{user}"), format!("ri_{user}")),
            ConversationId::Group(_) => (side_key(user, id.as_str()), "r".to_owned(), "ri".to_owned()),
        };
        let exists = match id {
            ConversationId::Direct(_) => "attribute_exists(pk)".to_owned(),
            // Their side exists and is a side (a read position alone is not).
            ConversationId::Group(_) => "attribute_exists(spans)".to_owned(),
        };
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(key))
            .update_expression("SET #r = :n, #ri = :id")
            .condition_expression(format!("{exists} AND (attribute_not_exists(#r) OR #r < :n)"))
            .expression_attribute_names("#r", r)
            .expression_attribute_names("#ri", ri)
            .expression_attribute_values(":n", n(mark.number.0))
            .expression_attribute_values(":id", s(mark.message.as_str()))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(StoreError::unavailable)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().update(update).build(),
        ];
        match self.transact(items, tally).await? {
            Outcome::Committed => Ok(ReadOutcome::Moved),
            Outcome::Cancelled(reasons) if failed(&reasons, 0) => {
                // The message is not this conversation's — or the conversation is not theirs.
                match self.summary_and_side(user, id, tally).await? {
                    Some(_) => Err(Rejection::UnknownMessage.into()),
                    None => Err(Rejection::UnknownConversation.into()),
                }
            }
            Outcome::Cancelled(reasons) if failed(&reasons, 1) => {
                // Ours but already there or further, or not ours at all.
                let old = reasons[1].item();
                let theirs = old.is_some_and(|item| match id {
                    ConversationId::Direct(_) => item.contains_key("pk"),
                    ConversationId::Group(_) => item.contains_key("spans"),
                });
                if theirs { Ok(ReadOutcome::Unchanged) } else { Err(Rejection::UnknownConversation.into()) }
            }
            Outcome::Cancelled(reasons) => Err(StoreError::unavailable(format!(
                "read position not written: {:?}",
                reasons.iter().map(|r| r.code().unwrap_or("None")).collect::<Vec<_>>()
            ))),
        }
    }

    /// Marks `user`'s direct conversation with `peer` as one whose user was erased: sends to them
    /// fail (`UnknownUser`) from now on, their name goes (the peer's inbox says "deleted user"),
    /// and the peer keeps the conversation.
    pub(super) async fn mark_gone(&self, user: &UserId, peer: &UserId, tally: &mut Tally) -> StoreResult<()> {
        let key = entity_key(pair_pk(&crate::domain::conversation::pair_key(user, peer)), PAIR);
        let request = self
            .client
            .update_item()
            .table_name(&self.options.entities_table)
            .set_key(Some(key.clone()))
            .update_expression("SET gone = :t REMOVE #n")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#n", format!("name_{user}"))
            .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            // The item as it was: what the update is billed by (the larger of before and after,
            // and after is smaller but for `gone`), without reading it first.
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let result = Self::call(tally, Kind::Write, || request.clone().send()).await?;
        match result {
            Ok(output) => {
                let old = output.attributes().map_or(0, super::capacity::item_size);
                tally.bill_write(super::capacity::write_units(old + "gone".len() as u64 + 1, false));
                tally.request(Kind::Write, output.consumed_capacity())
            }
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                tally.bill_write(super::capacity::write_units(0, false));
                tally.request(Kind::Write, None)
            }
            Err(error) => return Err(sdk_error(error)),
        }
        Ok(())
    }
}
