//! History pages on DynamoDB: one `Query` of a conversation's log, stopping at a gap in its
//! numbers as a poll does at a gap in positions (see the module docs of [`super`]).

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::capacity::{Read, item_size, read_units};
use super::conversations::side_from;
use super::items::*;
use super::metrics::{Kind, Tally};
use super::{DynamoStore, sdk_error};
use crate::domain::conversation::{HistoryFrom, HistoryPage, next_page};
use crate::domain::{ConversationId, MessageJson, Number, Participation, UserId};
use crate::store::{StoreError, StoreResult};

impl DynamoStore {
    pub(super) async fn history_now(
        &self,
        user: &UserId,
        id: &ConversationId,
        from: HistoryFrom,
        limit: usize,
        tally: &mut Tally,
    ) -> StoreResult<Option<HistoryPage>> {
        let shared = id.shared_key(user);
        // A direct conversation is its two users' whole log; a group's member reads their spans.
        let side = match id {
            ConversationId::Direct(_) => Participation::direct(0),
            ConversationId::Group(_) => match self.get_entity(user_pk(user), &side_sk(id.as_str()), tally).await? {
                Some(item) => side_from(&item)?,
                None => return Ok(None),
            },
        };
        let (low, high) = match from {
            HistoryFrom::Newest => (1, u64::MAX / 2),
            HistoryFrom::Before(n) => (1, n.0.saturating_sub(1)),
            HistoryFrom::After(n) => (n.0.saturating_add(1), u64::MAX / 2),
        };
        let lowest = side.spans.first().map_or(1, |span| span.from + 1).max(low);
        let highest = side.spans.iter().map(|span| span.to.unwrap_or(u64::MAX / 2)).max().unwrap_or(0).min(high);
        if lowest > highest {
            return Ok(Some(HistoryPage { messages: Vec::new(), next: next_page(from, &[], false) }));
        }
        let query = self
            .client
            .query()
            .table_name(&self.options.entities_table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(log_pk(&shared)))
            .expression_attribute_values(":lo", s(log_sk(lowest)))
            .expression_attribute_values(":hi", s(log_sk(highest)))
            .projection_expression("n, message, #at")
            .expression_attribute_names("#at", "at")
            .scan_index_forward(!from.newest_first())
            .consistent_read(true)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let output = Self::call(tally, Kind::Read, || query.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Read, output.consumed_capacity());
        tally.bill_read(read_units(output.items().iter().map(item_size).sum(), Read::Strong));
        if matches!(id, ConversationId::Direct(_)) && from == HistoryFrom::Newest && output.items().is_empty() {
            return Ok(None);
        }
        let mut messages = Vec::with_capacity(limit.min(output.items().len()));
        let mut bytes = 0;
        let mut expected = match from {
            HistoryFrom::After(n) => side.next_after(n.0),
            HistoryFrom::Before(n) => side.next_before(n.0, u64::MAX / 2),
            HistoryFrom::Newest => None,
        };
        // When the entry before a gap (in the direction of reading) was written, once known: at
        // the start of a page, the cursor's own, read only if the page starts with a gap.
        let mut previous_at: Option<Option<u64>> = None;
        let mut more = output.last_evaluated_key().is_some() || output.items().len() > limit;
        for item in output.items() {
            let number = get_n(item, "n")?;
            if !side.contains(Number(number), u64::MAX / 2) {
                continue;
            }
            if messages.len() == limit {
                more = true;
                break;
            }
            let at = get_n(item, "at")?;
            // Numbers are dense: a missing one may still be committing (see the module docs of
            // `super`), so the page stops before it — unless, as a feed's, it can only have
            // expired.
            if expected.is_some_and(|expected| expected != number) {
                let before = match (previous_at, from) {
                    (Some(known), _) => known,
                    (None, HistoryFrom::After(n) | HistoryFrom::Before(n)) => {
                        self.log_entry_at(&shared, n.0, tally).await?
                    }
                    (None, HistoryFrom::Newest) => None,
                };
                // Going back, the entry read now is the gap's older side.
                let expired = if from.newest_first() {
                    self.gap_is_expired(Some(at), before.unwrap_or(at))
                } else {
                    self.gap_is_expired(before, at)
                };
                if !expired {
                    more = true;
                    break;
                }
            }
            let json = MessageJson::from_stored(get_s(item, "message")?.as_bytes()).map_err(StoreError::unavailable)?;
            if !crate::domain::FeedPage::fits(messages.len(), bytes, json.as_bytes().len()) {
                more = true;
                break;
            }
            bytes += json.as_bytes().len();
            messages.push((Number(number), json));
            previous_at = Some(Some(at));
            expected =
                if from.newest_first() { side.next_before(number, u64::MAX / 2) } else { side.next_after(number) };
        }
        let more = more || (from.newest_first() && expected.is_some_and(|n| n >= lowest));
        Ok(Some(HistoryPage { next: next_page(from, &messages, more), messages }))
    }

    /// When the log entry `number` of `shared` was written; `None` if it is gone (expired).
    async fn log_entry_at(&self, shared: &str, number: u64, tally: &mut Tally) -> StoreResult<Option<u64>> {
        if number == 0 {
            return Ok(None);
        }
        let item = self.get_entity(log_pk(shared), &log_sk(number), tally).await?;
        item.map(|item| get_n(&item, "at")).transpose()
    }
}
