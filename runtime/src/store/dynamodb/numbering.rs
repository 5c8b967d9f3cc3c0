//! What a send writes for its conversation, in the transaction that delivers it: the numbered
//! log item, and the summary moving on from the count it was read at (which numbers messages
//! densely, as the head condition numbers feed positions). The summary also moves the sender's
//! read position: a direct one holds both users', a group item each member's newest message
//! ([`super::send_marks`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::capacity::{item_size, value_size};
use super::conversations::side_key;
use super::groups::LoadedGroup;
use super::items::*;
use super::metrics::Tally;
use super::request::Projection;
use super::schema::{SEQ, TTL};
use super::send_marks::{MarkWrite, SENT};
use super::{DynamoStore, now_millis};
use crate::domain::conversation::Span;
use crate::domain::{GroupId, Message, MessageJson, Recipient, UserId};
use crate::store::{StoreError, StoreResult};

fn as_item(item: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(item).build()
}

impl DynamoStore {
    /// The heads of `users`' feeds and the summary of the direct conversation `pair`, in one
    /// `BatchGetItem`.
    pub(super) async fn heads_and_pair(
        &self,
        users: &[UserId],
        pair: &str,
        tally: &mut Tally,
    ) -> StoreResult<(HashMap<UserId, u64>, Option<Item>)> {
        let seq_size = item_size(&HashMap::from([(SEQ.to_owned(), n(HEAD_SEQ))]));
        let projection =
            Projection { expression: "#u, head", names: &[("#u", super::schema::USER)], omitted_bytes: seq_size };
        let summary_key = entity_key(pair_pk(pair), PAIR);
        let wanted = vec![
            (
                self.options.feeds_table.as_str(),
                users.iter().map(|u| feed_key(u, HEAD_SEQ)).collect(),
                Some(projection),
            ),
            (self.options.entities_table.as_str(), vec![summary_key.clone()], None),
        ];
        let mut found = self.batch_get_tables(wanted, tally).await?;
        let mut heads: HashMap<UserId, u64> = users.iter().map(|u| (u.clone(), HEAD_SEQ)).collect();
        for item in &found[0] {
            let user =
                UserId::parse(get_s(item, super::schema::USER)?).ok_or_else(|| StoreError::unavailable("bad head"))?;
            heads.insert(user, get_n(item, "head")?);
        }
        let summary = found[1].pop();
        if let Some(summary) = &summary {
            tally.remember(&self.options.entities_table, &summary_key, item_size(summary));
        }
        Ok((heads, summary))
    }

    /// The message at its number in the log of `shared` (a pair or a group).
    pub(super) fn log_put(
        &self,
        shared: &str,
        message: &Message,
        json: &MessageJson,
        at: u64,
    ) -> StoreResult<TransactWriteItem> {
        let number = message.id.number().expect("numbered before it is written");
        let mut item = entity_key(log_pk(shared), log_sk(number.0));
        item.insert("message".into(), s(String::from_utf8_lossy(json.as_bytes())));
        item.insert("mid".into(), s(message.id.as_str()));
        item.insert("n".into(), n(number.0));
        item.insert("at".into(), n(at));
        if self.options.feed_ttl_days > 0 {
            item.insert(TTL.into(), n(at / 1000 + u64::from(self.options.feed_ttl_days) * 86_400));
        }
        let put = Put::builder().table_name(&self.options.entities_table).set_item(Some(item));
        Ok(TransactWriteItem::builder().put(put.build().map_err(StoreError::unavailable)?).build())
    }

    /// The direct conversation's summary moving from `latest` to this message, the sender's read
    /// position with it. Its old image comes back if the condition fails, to tell an erased
    /// recipient (`gone`) from a concurrent send.
    pub(super) fn pair_update(
        &self,
        pair: &str,
        message: &Message,
        json: &MessageJson,
        latest: u64,
    ) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(entity_key(pair_pk(pair), PAIR)))
            .update_expression("SET n = :n, #last = :m, #r = :n, #ri = :id")
            .condition_expression("n = :old AND attribute_not_exists(gone)")
            .expression_attribute_names("#last", "last")
            .expression_attribute_names("#r", format!("r_{}", message.from))
            .expression_attribute_names("#ri", format!("ri_{}", message.from))
            .expression_attribute_values(":n", n(latest + 1))
            .expression_attribute_values(":old", n(latest))
            .expression_attribute_values(":m", s(String::from_utf8_lossy(json.as_bytes())))
            .expression_attribute_values(":id", s(message.id.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(as_item(update))
    }

    /// The first message between two users: their conversation's summary (with both names, read
    /// once here) and each one's side of it.
    pub(super) async fn first_of_pair(
        &self,
        pair: &str,
        message: &Message,
        json: &MessageJson,
        tally: &mut Tally,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let Recipient::Direct(to) = &message.to else { unreachable!("a direct message") };
        let users: Vec<&UserId> = if to == &message.from { vec![to] } else { vec![&message.from, to] };
        let keys = users.iter().map(|user| entity_key(user_pk(user), PROFILE)).collect();
        let profiles = self.batch_get(&self.options.entities_table, keys, None, tally).await?;
        let mut summary = entity_key(pair_pk(pair), PAIR);
        summary.insert("n".into(), n(1));
        summary.insert("last".into(), s(String::from_utf8_lossy(json.as_bytes())));
        summary.insert(format!("r_{}", message.from), n(1));
        summary.insert(format!("ri_{}", message.from), s(message.id.as_str()));
        for profile in &profiles {
            let user = get_s(profile, "pk")?.trim_start_matches("U#");
            summary.insert(format!("name_{user}"), s(get_s(profile, "name")?));
        }
        let mut items = vec![self.entity_put(summary, Some("attribute_not_exists(pk)"))?];
        let spans = serde_json::to_string(&[Span { from: 0, to: None }]).map_err(StoreError::unavailable)?;
        for (user, peer) in users.iter().zip(users.iter().rev()) {
            let mut side = side_key(user, peer.as_str());
            side.insert("spans".into(), s(spans.clone()));
            side.insert("joined_at".into(), n(now_millis()));
            items.push(self.entity_put(side, None)?);
        }
        Ok(items)
    }

    /// The group item moving from the version loaded to the next, with this message as its newest
    /// and as the sender's newest (`mark`); and the item's size after it, which it is billed by.
    pub(super) fn group_update(
        &self,
        group: &GroupId,
        message: &Message,
        json: &MessageJson,
        loaded: &LoadedGroup,
        mark: MarkWrite,
    ) -> StoreResult<(TransactWriteItem, u64)> {
        let number = message.id.number().expect("numbered before it is written");
        let (version, last) = (n(loaded.version), loaded.last.clone().map(s));
        let (next, newest, latest) = (n(loaded.version + 1), s(String::from_utf8_lossy(json.as_bytes())), n(number.0));
        // The values replaced, and the names of the attributes the first message adds.
        let count = (loaded.latest > 0).then(|| n(loaded.latest));
        let old = value_size(&version) + last.as_ref().map_or(0, value_size) + count.as_ref().map_or(0, value_size);
        let added = if last.is_none() { "last".len() } else { 0 } + if count.is_none() { "n".len() } else { 0 };
        let new = value_size(&next) + value_size(&newest) + value_size(&latest) + added as u64;
        let after = (loaded.size + new + mark.growth).saturating_sub(old);
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(entity_key(group_pk(group), GROUP)))
            .update_expression(format!("SET version = :next, n = :n, #last = :m, {} = :mark", mark.path))
            .condition_expression("version = :v")
            .expression_attribute_names("#last", "last")
            .expression_attribute_names("#sent", SENT)
            .expression_attribute_values(":v", version)
            .expression_attribute_values(":next", next)
            .expression_attribute_values(":n", latest)
            .expression_attribute_values(":m", newest)
            .expression_attribute_values(":mark", mark.value)
            .build()
            .map_err(StoreError::unavailable)?;
        Ok((as_item(update), after))
    }

    /// The sender's read position on their side of the group, at their message, for a sender the
    /// group's marks do not know ([`SendMark::Unknown`]): their side may not exist (a group from
    /// before conversations were recorded), and gets one from this message on. Once per member.
    pub(super) fn sender_read(
        &self,
        group: &GroupId,
        message: &Message,
        latest: u64,
    ) -> StoreResult<TransactWriteItem> {
        let number = message.id.number().expect("numbered before it is written");
        let spans = serde_json::to_string(&[Span { from: latest, to: None }]).map_err(StoreError::unavailable)?;
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(side_key(&message.from, group.as_str())))
            .update_expression(
                "SET r = :n, ri = :id, spans = if_not_exists(spans, :s), joined_at = if_not_exists(joined_at, :j)",
            )
            .expression_attribute_values(":n", n(number.0))
            .expression_attribute_values(":id", s(message.id.as_str()))
            .expression_attribute_values(":s", s(spans))
            .expression_attribute_values(":j", n(now_millis()))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(as_item(update))
    }
}
