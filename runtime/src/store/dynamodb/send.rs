//! Sending: appending to feeds under the head condition, send records, and finishing a group
//! send that died between its transactions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};

use super::groups::PendingSend;
use super::items::*;
use super::metrics::Tally;
use super::retry::cancellation;
use super::schema::TTL;
use super::send_marks::mark_write;
use super::{CHUNK, DynamoStore, Outcome, failed, itemised, now_millis};
use crate::domain::conversation::pair_key;
use crate::domain::message::Outgoing;
use crate::domain::{ClientId, GroupId, Message, MessageJson, Number, Recipient, Rejection, Sent, Seq, UserId};
use crate::store::{StoreError, StoreResult};

/// Where a committed append put the message in each of `users`' feeds: just past the head it
/// was conditioned on.
fn positions(users: &[UserId], heads: &HashMap<UserId, u64>) -> Vec<(UserId, Seq)> {
    users.iter().map(|user| (user.clone(), Seq(heads[user] + 1))).collect()
}

/// The message as delivered: numbered next after `latest` in its conversation.
fn numbered(message: &Message, latest: u64) -> Message {
    let mut message = message.clone();
    message.id = message.id.numbered(Number(latest + 1));
    message
}

impl DynamoStore {
    /// The two items that append `message` to `user`'s feed at `head + 1`, conditioned on the
    /// head still being `head`.
    pub(super) fn append(
        &self,
        user: &UserId,
        head: u64,
        message: &MessageJson,
        at: u64,
    ) -> StoreResult<[TransactWriteItem; 2]> {
        let condition = if head == HEAD_SEQ { "attribute_not_exists(head)" } else { "head = :h" };
        let mut update = Update::builder()
            .table_name(&self.options.feeds_table)
            .set_key(Some(feed_key(user, HEAD_SEQ)))
            .update_expression("SET head = :n")
            .condition_expression(condition)
            .expression_attribute_values(":n", n(head + 1));
        if head != HEAD_SEQ {
            update = update.expression_attribute_values(":h", n(head));
        }
        let mut entry = feed_key(user, head + 1);
        entry.insert("message".into(), s(String::from_utf8_lossy(message.as_bytes())));
        entry.insert("at".into(), n(at));
        if self.options.feed_ttl_days > 0 {
            let expires = at / 1000 + u64::from(self.options.feed_ttl_days) * 86_400;
            entry.insert(TTL.into(), n(expires));
        }
        let put = Put::builder().table_name(&self.options.feeds_table).set_item(Some(entry));
        Ok([
            TransactWriteItem::builder().update(update.build().map_err(StoreError::unavailable)?).build(),
            TransactWriteItem::builder().put(put.build().map_err(StoreError::unavailable)?).build(),
        ])
    }

    fn condition_check(&self, key: Item, condition: &str, values: Option<Item>) -> StoreResult<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    pub(super) fn entity_put(&self, item: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.options.entities_table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The record of a send under its key: the message, and how many of its transactions
    /// (`chunks`) have committed (`done`).
    fn send_record(&self, message: &Message, key: &ClientId, chunks: usize) -> StoreResult<TransactWriteItem> {
        let mut item = entity_key(user_pk(&message.from), sent_sk(key));
        item.insert("message".into(), s(String::from_utf8_lossy(MessageJson::encode(message).as_bytes())));
        item.insert("chunks".into(), n(chunks));
        item.insert("done".into(), n(1));
        self.entity_put(item, Some("attribute_not_exists(pk)"))
    }

    fn progress(&self, message: &Message, key: &ClientId, done: usize) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(entity_key(user_pk(&message.from), sent_sk(key))))
            .update_expression("SET done = :next")
            .condition_expression("done = :done")
            .expression_attribute_values(":done", n(done))
            .expression_attribute_values(":next", n(done + 1))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The send record's message, transactions in all, and transactions committed.
    async fn send_progress(
        &self,
        sender: &UserId,
        key: &ClientId,
        tally: &mut Tally,
    ) -> StoreResult<Option<(Message, usize, usize)>> {
        let Some(record) = self.get_entity(user_pk(sender), &sent_sk(key), tally).await? else {
            return Ok(None);
        };
        let message = MessageJson::from_stored(get_s(&record, "message")?.as_bytes())
            .and_then(|json| json.decode())
            .map_err(|e| StoreError::unavailable(format!("corrupt send record: {e}")))?;
        Ok(Some((message, get_n(&record, "chunks")? as usize, get_n(&record, "done")? as usize)))
    }

    /// Delivers what is left of a recorded send, from its recorded progress `done`.
    async fn resume(&self, message: &Message, key: &ClientId, done: usize, tally: &mut Tally) -> StoreResult<()> {
        let recipients = self
            .get_entity(user_pk(&message.from), &recipients_sk(key), tally)
            .await?
            .ok_or_else(|| StoreError::unavailable("send record without recipients"))?;
        let recipients = user_list(&recipients, "recipients")?;
        let json = MessageJson::encode(message);
        self.deliver_chunks(message, &json, key, &recipients, done, tally).await.map(drop)
    }

    /// An earlier send with this `client_id`: the original message if it is the same request
    /// (completing its delivery first if it died midway), a conflict otherwise, `None` if there
    /// was none.
    async fn replay(&self, outgoing: &Outgoing, client_id: &ClientId, tally: &mut Tally) -> StoreResult<Option<Sent>> {
        let message = &outgoing.message;
        let Some((original, chunks, done)) = self.send_progress(&message.from, client_id, tally).await? else {
            return Ok(None);
        };
        if !original.same_request(&message.to, &message.text) {
            return Err(Rejection::ClientIdConflict.into());
        }
        if done < chunks {
            self.resume(&original, client_id, done, tally).await?;
        }
        Ok(Some(Sent { message: original, replayed: true, deliveries: Vec::new() }))
    }

    /// Finishes sends to the group whose callers died midway (see the module docs).
    pub(super) async fn finish_pending(
        &self,
        group: &GroupId,
        pending: &[PendingSend],
        tally: &mut Tally,
    ) -> StoreResult<()> {
        for send in pending {
            match self.send_progress(&send.sender, &send.key, tally).await? {
                Some((message, chunks, done)) if done < chunks => self.resume(&message, &send.key, done, tally).await?,
                // Finished, but its last transaction did not carry the marker away: a leftover.
                _ => self.delete_marker(group, &send.message, tally).await?,
            }
        }
        Ok(())
    }

    async fn delete_marker(
        &self,
        group: &GroupId,
        message: &crate::domain::MessageId,
        tally: &mut Tally,
    ) -> StoreResult<()> {
        self.delete_entity(entity_key(group_pk(group), pending_sk(message)), tally).await
    }

    /// Delivers the chunks of `recipients` from `from` (what the send record of `key` counted as
    /// done when last read), each transaction advancing the record, until every chunk is delivered — whoever delivers
    /// them: when a concurrent call with the same key (a client's retry racing the original, or
    /// a completer) has moved the record on, this call carries on from where the record is now,
    /// and it returns only when the record says every chunk is done. The last transaction also
    /// removes the group's pending marker. Returns the feed positions this call wrote.
    async fn deliver_chunks(
        &self,
        message: &Message,
        json: &MessageJson,
        key: &ClientId,
        recipients: &[UserId],
        from: usize,
        tally: &mut Tally,
    ) -> StoreResult<Vec<(UserId, Seq)>> {
        let chunks: Vec<&[UserId]> = recipients.chunks(CHUNK).collect();
        let mut index = from;
        let mut retry = tally.retry();
        let mut deliveries = Vec::new();
        while index < chunks.len() {
            let chunk = chunks[index];
            let heads = self.heads(chunk, tally).await?;
            let at = now_millis();
            let mut items = Vec::with_capacity(chunk.len() * 2 + 2);
            for user in chunk {
                items.extend(self.append(user, heads[user], json, at)?);
            }
            let progress = items.len();
            items.push(self.progress(message, key, index)?);
            if index + 1 == chunks.len()
                && let Recipient::Group(group) = &message.to
            {
                let marker = entity_key(group_pk(group), pending_sk(&message.id));
                let delete = Delete::builder()
                    .table_name(&self.options.entities_table)
                    .set_key(Some(marker))
                    .build()
                    .map_err(StoreError::unavailable)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
            let count = items.len();
            match self.transact(items, tally).await? {
                Outcome::Committed => {
                    deliveries.extend(positions(chunk, &heads));
                    index += 1;
                    retry.reset();
                }
                Outcome::Cancelled(reasons) => {
                    if failed(&reasons, progress) || !itemised(&reasons, count) {
                        // Another call moved this send on: continue from where it is now.
                        let (_, _, done) = self
                            .send_progress(&message.from, key, tally)
                            .await?
                            .ok_or_else(|| StoreError::unavailable("send record vanished"))?;
                        if done != index {
                            index = done;
                            continue;
                        }
                    }
                    retry.back_off(cancellation(&reasons)).await?;
                }
            }
        }
        Ok(deliveries)
    }

    pub(super) async fn send_direct(&self, outgoing: &Outgoing, to: &UserId, tally: &mut Tally) -> StoreResult<Sent> {
        let from = &outgoing.message.from;
        let feeds: Vec<UserId> = if to == from { vec![to.clone()] } else { vec![from.clone(), to.clone()] };
        let pair = pair_key(from, to);
        let mut retry = tally.retry();
        loop {
            let (heads, summary) = self.heads_and_pair(&feeds, &pair, tally).await?;
            let latest = summary.as_ref().map(|summary| get_n(summary, "n")).transpose()?.unwrap_or(0);
            let message = numbered(&outgoing.message, latest);
            let json = MessageJson::encode(&message);
            let at = now_millis();
            let mut items = Vec::with_capacity(10);
            for user in &feeds {
                items.extend(self.append(user, heads[user], &json, at)?);
            }
            // The conversation's summary moves on only from the count it had (first message: the
            // recipient's profile must exist); a summary marked gone is an erased recipient's.
            let gate = items.len();
            items.push(match &summary {
                Some(_) => self.pair_update(&pair, &message, &json, latest)?,
                None => self.condition_check(entity_key(user_pk(to), PROFILE), "attribute_exists(pk)", None)?,
            });
            items.push(self.condition_check(
                entity_key(user_pk(to), block_sk(from)),
                "attribute_not_exists(pk)",
                None,
            )?);
            if let Some(client_id) = &outgoing.client_id {
                items.push(self.send_record(&message, client_id, 1)?);
            }
            items.push(self.log_put(&pair, &message, &json, at)?);
            if summary.is_none() {
                items.extend(self.first_of_pair(&pair, &message, &json, tally).await?);
            }
            let charge = self.send_charge(from, feeds.len())?;
            let charged = items.len();
            items.extend(charge.as_ref().map(|charge| charge.item.clone()));
            let count = items.len();
            match self.transact(items, tally).await? {
                Outcome::Committed => {
                    let deliveries = positions(&feeds, &heads);
                    return Ok(Sent { message, replayed: false, deliveries });
                }
                Outcome::Cancelled(reasons) => {
                    // A replay wins over a block that came after the original send, so the
                    // record is looked at first — and whenever the reasons do not say.
                    if let Some(client_id) = &outgoing.client_id
                        && (failed(&reasons, gate + 2) || !itemised(&reasons, count))
                        && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                    {
                        return Ok(sent);
                    }
                    let gone = reasons.get(gate).and_then(|r| r.item()).is_some_and(|old| old.contains_key("gone"));
                    if failed(&reasons, gate) && (summary.is_none() || gone) {
                        return Err(Rejection::UnknownUser.into());
                    }
                    if failed(&reasons, gate + 1) {
                        return Err(Rejection::Blocked.into());
                    }
                    if let Some(charge) = &charge
                        && failed(&reasons, charged)
                    {
                        return Err(charge.refusal(&reasons[charged], &self.options.limits));
                    }
                    // A head or the conversation's count moved: read them again.
                    retry.back_off(cancellation(&reasons)).await?;
                }
            }
        }
    }

    pub(super) async fn send_group(
        &self,
        outgoing: &Outgoing,
        group_id: &GroupId,
        tally: &mut Tally,
    ) -> StoreResult<Sent> {
        let mut retry = tally.retry();
        loop {
            let loaded = self.load_group_and_pending(group_id, tally).await?.ok_or(Rejection::UnknownGroup)?;
            let message = &numbered(&outgoing.message, loaded.latest);
            let json = MessageJson::encode(message);
            if !loaded.group.is_member(&message.from) {
                // A replay wins over a removal that happened after the original send.
                if let Some(client_id) = &outgoing.client_id
                    && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                {
                    return Ok(sent);
                }
                return Err(Rejection::NotMember.into());
            }
            // Earlier sends to this group that stopped midway reach everyone before this one.
            self.finish_pending(group_id, &loaded.pending, tally).await?;
            let recipients = loaded.group.members.clone();
            let chunks = recipients.len().div_ceil(CHUNK);
            // A send of several transactions is always recorded, under the client's key or one
            // of the server's, so that it can be finished if its caller dies midway.
            let key = outgoing.client_id.clone().or_else(|| (chunks > 1).then(|| ClientId::server_side(&message.id)));
            let first = &recipients[..recipients.len().min(CHUNK)];
            let heads = self.heads(first, tally).await?;
            let at = now_millis();
            let mut items = Vec::with_capacity(first.len() * 2 + 4);
            for user in first {
                items.extend(self.append(user, heads[user], &json, at)?);
            }
            // The group moves on from the version read (no membership change and no other send
            // came between), taking this message as its newest.
            let group_check = items.len();
            let mark = mark_write(&recipients, loaded.marks.as_deref(), &message.from, &message.id);
            let unknown = mark.unknown;
            let (update, size) = self.group_update(group_id, message, &json, &loaded, mark)?;
            items.push(update);
            tally.remember(&self.options.entities_table, &entity_key(group_pk(group_id), GROUP), size);
            if let Some(key) = &key {
                items.push(self.send_record(message, key, chunks)?);
                if chunks > 1 {
                    let mut record = entity_key(user_pk(&message.from), recipients_sk(key));
                    record.insert("recipients".into(), users_attribute(&recipients));
                    items.push(self.entity_put(record, None)?);
                    let mut marker = entity_key(group_pk(group_id), pending_sk(&message.id));
                    marker.insert("sender".into(), s(message.from.as_str()));
                    marker.insert("key".into(), s(key.as_str()));
                    items.push(self.entity_put(marker, None)?);
                }
            }
            items.push(self.log_put(group_id.as_str(), message, &json, at)?);
            if unknown {
                items.push(self.sender_read(group_id, message, loaded.latest)?);
            }
            let charge = self.send_charge(&message.from, recipients.len())?;
            let charged = items.len();
            items.extend(charge.as_ref().map(|charge| charge.item.clone()));
            let count = items.len();
            match self.transact(items, tally).await? {
                Outcome::Committed => {
                    let mut deliveries = positions(first, &heads);
                    if let Some(key) = key.as_ref().filter(|_| chunks > 1) {
                        deliveries.extend(self.deliver_chunks(message, &json, key, &recipients, 1, tally).await?);
                    }
                    return Ok(Sent { message: message.clone(), replayed: false, deliveries });
                }
                Outcome::Cancelled(reasons) => {
                    if let Some(client_id) = &outgoing.client_id
                        && (failed(&reasons, group_check + 1) || !itemised(&reasons, count))
                        && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                    {
                        return Ok(sent);
                    }
                    if let Some(charge) = &charge
                        && failed(&reasons, charged)
                    {
                        return Err(charge.refusal(&reasons[charged], &self.options.limits));
                    }
                    // Otherwise a head moved or the membership changed: read both again.
                    retry.back_off(cancellation(&reasons)).await?;
                }
            }
        }
    }
}
