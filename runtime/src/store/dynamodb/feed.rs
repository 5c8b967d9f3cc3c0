//! Polls: one strongly consistent `Query` of a feed after a position, stopping at a gap unless
//! the gap can only be expired entries (see the module docs of [`super`]); history pages judge
//! the gaps of a conversation's log the same way.

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;

use super::capacity::{Read, item_size, read_units};
use super::items::*;
use super::metrics::{Kind, Tally};
use super::schema::{self, SEQ, USER};
use super::{DynamoStore, EXPIRY_MARGIN, GAP_SETTLE, now_millis, sdk_error};
use crate::domain::{FeedPage, MessageJson, Seq, UserId};
use crate::store::{StoreError, StoreResult};

impl DynamoStore {
    /// Up to `limit` entries of `user`'s feed after `after`.
    pub(super) async fn read_feed(
        &self,
        user: &UserId,
        after: Seq,
        limit: usize,
        tally: &mut Tally,
    ) -> StoreResult<FeedPage> {
        let query = self
            .client
            .query()
            .table_name(&self.options.feeds_table)
            .key_condition_expression("#u = :u AND #s > :after")
            .expression_attribute_names("#u", USER)
            .expression_attribute_names("#s", SEQ)
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":u", s(user.as_str()))
            .expression_attribute_values(":after", n(after.0))
            .projection_expression("#s, message, #at")
            .consistent_read(true)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let output = Self::call(tally, Kind::Read, || query.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Read, output.consumed_capacity());
        tally.bill_read(read_units(output.items().iter().map(|i| self.feed_entry_size(user, i)).sum(), Read::Strong));
        let mut entries: Vec<(Seq, MessageJson)> = Vec::with_capacity(limit.min(output.items().len()));
        // When the entry before the next one was written, if known (`None`: not read yet).
        let mut previous_at: Option<Option<u64>> = None;
        let mut expected = after.next();
        let mut bytes = 0;
        // DynamoDB stopped early at 1 MB, or there were more than `limit` entries.
        let mut has_more = output.last_evaluated_key().is_some() || output.items().len() > limit;
        for item in output.items() {
            let seq = Seq(get_n(item, SEQ)?);
            if entries.len() == limit {
                break;
            }
            let at = get_n(item, "at")?;
            if seq != expected {
                let before = match previous_at {
                    Some(known) => known,
                    None => self.entry_written_at(user, Seq(expected.0 - 1), tally).await?,
                };
                if !self.gap_is_expired(before, at) {
                    has_more = true; // an earlier position may still be committing: stop before it
                    break;
                }
            }
            let json = MessageJson::from_stored(get_s(item, "message")?.as_bytes())
                .map_err(|e| StoreError::unavailable(format!("corrupt feed entry: {e}")))?;
            if !FeedPage::fits(entries.len(), bytes, json.as_bytes().len()) {
                has_more = true;
                break;
            }
            bytes += json.as_bytes().len();
            entries.push((seq, json));
            expected = seq.next();
            previous_at = Some(Some(at));
        }
        Ok(FeedPage { entries, has_more })
    }

    /// Whether the positions missing before an entry written at `after_gap` can only be entries
    /// that expired (see the module docs): retention is on, the entry before the gap (written at
    /// `before_gap`; `None` when it is gone too or there is none) is within [`EXPIRY_MARGIN`] of
    /// its own expiry, and the entry after the gap is over [`GAP_SETTLE`] old.
    pub(super) fn gap_is_expired(&self, before_gap: Option<u64>, after_gap: u64) -> bool {
        if self.options.feed_ttl_days == 0 {
            return false;
        }
        let now = now_millis();
        let retention = u64::from(self.options.feed_ttl_days) * 86_400_000;
        let near_expiry = before_gap.is_none_or(|at| at + retention <= now + EXPIRY_MARGIN.as_millis() as u64);
        near_expiry && after_gap + (GAP_SETTLE.as_millis() as u64) < now
    }

    /// When the feed entry at `seq` was written, or `None` if there is none (position 0, or an
    /// entry that expired).
    async fn entry_written_at(&self, user: &UserId, seq: Seq, tally: &mut Tally) -> StoreResult<Option<u64>> {
        if seq == Seq::START {
            return Ok(None);
        }
        let request = self
            .client
            .get_item()
            .table_name(&self.options.feeds_table)
            .set_key(Some(feed_key(user, seq.0)))
            .projection_expression("#at")
            .expression_attribute_names("#at", "at")
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let output = Self::call(tally, Kind::Read, || request.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Read, output.consumed_capacity());
        tally.bill_read(read_units(output.item().map_or(0, |i| self.feed_entry_size(user, i)), Read::Strong));
        output.item().map(|item| get_n(item, "at")).transpose()
    }

    /// The size of a feed entry as stored, from the projection a poll reads (which leaves out the
    /// `user` key and the `ttl`): what the poll is billed for.
    fn feed_entry_size(&self, user: &UserId, projected: &Item) -> u64 {
        let mut stored = projected.clone();
        stored.insert(USER.to_owned(), s(user.as_str()));
        if self.options.feed_ttl_days > 0 {
            let at = get_n(projected, "at").unwrap_or(0);
            stored.insert(schema::TTL.to_owned(), n(at / 1000 + u64::from(self.options.feed_ttl_days) * 86_400));
        }
        item_size(&stored)
    }
}
