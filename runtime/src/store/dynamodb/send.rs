//! Sending: appending to feeds under the head condition, send records for `client_id`s, and
//! resuming a group send that died between its transactions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};

use super::items::*;
use super::metrics::Tally;
use super::schema::TTL;
use super::{CHUNK, DynamoStore, MAX_ATTEMPTS, Outcome, back_off, failed, now_millis};
use crate::domain::message::Outgoing;
use crate::domain::{ClientId, GroupId, Message, MessageJson, Rejection, Sent, UserId};
use crate::store::{StoreError, StoreResult};

impl DynamoStore {
    /// The two items that append `message` to `user`'s feed at `head + 1`, conditioned on the
    /// head still being `head`.
    fn append(&self, user: &UserId, head: u64, message: &MessageJson, at: u64) -> StoreResult<[TransactWriteItem; 2]> {
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

    /// The record of a send with a `client_id`: the message, and how many of its transactions
    /// (`chunks`) have committed (`done`).
    fn send_record(&self, message: &Message, client_id: &ClientId, chunks: usize) -> StoreResult<TransactWriteItem> {
        let mut item = entity_key(user_pk(&message.from), sent_sk(client_id));
        item.insert("message".into(), s(String::from_utf8_lossy(MessageJson::encode(message).as_bytes())));
        item.insert("chunks".into(), n(chunks));
        item.insert("done".into(), n(1));
        let put = Put::builder()
            .table_name(&self.options.entities_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn progress(&self, message: &Message, client_id: &ClientId, done: usize) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(entity_key(user_pk(&message.from), sent_sk(client_id))))
            .update_expression("SET done = :next")
            .condition_expression("done = :done")
            .expression_attribute_values(":done", n(done))
            .expression_attribute_values(":next", n(done + 1))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// An earlier send with this `client_id`: the original message if it is the same request
    /// (completing its delivery first if it died midway), a conflict otherwise, `None` if there
    /// was none.
    async fn replay(&self, outgoing: &Outgoing, client_id: &ClientId, tally: &mut Tally) -> StoreResult<Option<Sent>> {
        let message = &outgoing.message;
        let Some(record) = self.get_entity(user_pk(&message.from), &sent_sk(client_id), tally).await? else {
            return Ok(None);
        };
        let original = MessageJson::from_stored(get_s(&record, "message")?.as_bytes())
            .and_then(|json| json.decode())
            .map_err(|e| StoreError::unavailable(format!("corrupt send record: {e}")))?;
        if !original.same_request(&message.to, &message.text) {
            return Err(Rejection::ClientIdConflict.into());
        }
        let (chunks, done) = (get_n(&record, "chunks")? as usize, get_n(&record, "done")? as usize);
        if done < chunks {
            let recipients = self
                .get_entity(user_pk(&message.from), &recipients_sk(client_id), tally)
                .await?
                .ok_or_else(|| StoreError::unavailable("send record without recipients"))?;
            let recipients = user_list(&recipients, "recipients")?;
            let json = MessageJson::encode(&original);
            self.deliver_chunks(&original, &json, Some(client_id), &recipients, done, tally).await?;
        }
        Ok(Some(Sent { message: original, replayed: true }))
    }

    /// Delivers chunks `from..` of `recipients` (chunk 0 is always delivered by the caller),
    /// advancing the send record with each when there is a `client_id`.
    async fn deliver_chunks(
        &self,
        message: &Message,
        json: &MessageJson,
        client_id: Option<&ClientId>,
        recipients: &[UserId],
        from: usize,
        tally: &mut Tally,
    ) -> StoreResult<()> {
        for (index, chunk) in recipients.chunks(CHUNK).enumerate().skip(from) {
            let mut attempt = 0;
            loop {
                let heads = self.heads(chunk, tally).await?;
                let at = now_millis();
                let mut items = Vec::with_capacity(chunk.len() * 2 + 1);
                for user in chunk {
                    items.extend(self.append(user, heads[user], json, at)?);
                }
                if let Some(client_id) = client_id {
                    items.push(self.progress(message, client_id, index)?);
                }
                match self.transact(items, tally).await? {
                    Outcome::Committed => break,
                    Outcome::Cancelled(reasons) => {
                        // Someone else (a concurrent retry) advanced this send: it is theirs now.
                        if client_id.is_some() && failed(&reasons, chunk.len() * 2) {
                            return Ok(());
                        }
                    }
                }
                attempt += 1;
                if attempt == MAX_ATTEMPTS {
                    return Err(StoreError::unavailable("feed contention: retry the send with its client_id"));
                }
                back_off(attempt).await;
            }
        }
        Ok(())
    }

    pub(super) async fn send_direct(&self, outgoing: &Outgoing, to: &UserId, tally: &mut Tally) -> StoreResult<Sent> {
        let message = &outgoing.message;
        let json = MessageJson::encode(message);
        let feeds: Vec<UserId> =
            if to == &message.from { vec![to.clone()] } else { vec![message.from.clone(), to.clone()] };
        for attempt in 0..MAX_ATTEMPTS {
            let heads = self.heads(&feeds, tally).await?;
            let at = now_millis();
            let mut items = Vec::with_capacity(7);
            for user in &feeds {
                items.extend(self.append(user, heads[user], &json, at)?);
            }
            let checks = items.len();
            let (profile, block) = (entity_key(user_pk(to), PROFILE), entity_key(user_pk(to), block_sk(&message.from)));
            items.push(self.condition_check(profile, "attribute_exists(pk)", None)?);
            items.push(self.condition_check(block, "attribute_not_exists(pk)", None)?);
            if let Some(client_id) = &outgoing.client_id {
                items.push(self.send_record(message, client_id, 1)?);
            }
            match self.transact(items, tally).await? {
                Outcome::Committed => return Ok(Sent { message: message.clone(), replayed: false }),
                Outcome::Cancelled(reasons) => {
                    if let Some(client_id) = &outgoing.client_id
                        && failed(&reasons, checks + 2)
                        && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                    {
                        return Ok(sent);
                    }
                    if failed(&reasons, checks) {
                        return Err(Rejection::UnknownUser.into());
                    }
                    if failed(&reasons, checks + 1) {
                        return Err(Rejection::Blocked.into());
                    }
                }
            }
            back_off(attempt).await;
        }
        Err(StoreError::unavailable("feed contention: retry the send with its client_id"))
    }

    pub(super) async fn send_group(
        &self,
        outgoing: &Outgoing,
        group_id: &GroupId,
        tally: &mut Tally,
    ) -> StoreResult<Sent> {
        let message = &outgoing.message;
        let json = MessageJson::encode(message);
        for attempt in 0..MAX_ATTEMPTS {
            let (group, version) = self.load_group(group_id, tally).await?.ok_or(Rejection::UnknownGroup)?;
            if !group.is_member(&message.from) {
                // A replay wins over a removal that happened after the original send.
                if let Some(client_id) = &outgoing.client_id
                    && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                {
                    return Ok(sent);
                }
                return Err(Rejection::NotMember.into());
            }
            let recipients = group.members;
            let chunks = recipients.len().div_ceil(CHUNK);
            let first = &recipients[..recipients.len().min(CHUNK)];
            let heads = self.heads(first, tally).await?;
            let at = now_millis();
            let mut items = Vec::with_capacity(first.len() * 2 + 3);
            for user in first {
                items.extend(self.append(user, heads[user], &json, at)?);
            }
            let group_check = items.len();
            let unchanged = HashMap::from([(":v".to_owned(), n(version))]);
            items.push(self.condition_check(entity_key(group_pk(group_id), GROUP), "version = :v", Some(unchanged))?);
            if let Some(client_id) = &outgoing.client_id {
                items.push(self.send_record(message, client_id, chunks)?);
                if chunks > 1 {
                    let mut record = entity_key(user_pk(&message.from), recipients_sk(client_id));
                    record.insert("recipients".into(), users_attribute(&recipients));
                    let put = Put::builder()
                        .table_name(&self.options.entities_table)
                        .set_item(Some(record))
                        .build()
                        .map_err(StoreError::unavailable)?;
                    items.push(TransactWriteItem::builder().put(put).build());
                }
            }
            match self.transact(items, tally).await? {
                Outcome::Committed => {
                    self.deliver_chunks(message, &json, outgoing.client_id.as_ref(), &recipients, 1, tally).await?;
                    return Ok(Sent { message: message.clone(), replayed: false });
                }
                Outcome::Cancelled(reasons) => {
                    if let Some(client_id) = &outgoing.client_id
                        && failed(&reasons, group_check + 1)
                        && let Some(sent) = self.replay(outgoing, client_id, tally).await?
                    {
                        return Ok(sent);
                    }
                    // Otherwise a head moved or the membership changed: read both again.
                }
            }
            back_off(attempt).await;
        }
        Err(StoreError::unavailable("feed contention: retry the send with its client_id"))
    }
}
