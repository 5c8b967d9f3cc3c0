//! Conversations on DynamoDB (items in the module docs of [`super`]): the inbox, history pages,
//! read positions and receipts.
//!
//! | item | key | attributes |
//! |---|---|---|
//! | a user's side of a conversation | `U#<user>` / `conv#<peer or group>` | `spans`, `joined_at`; for a group `r`, `ri` (read position) |
//! | a direct conversation's summary | `P#<low>#<high>` / `pair` | `n`, `last`, `name_<user>`, `r_<user>`, `ri_<user>`, `gone` |
//! | a group's summary | the group item | `n`, `last` |
//! | a conversation's messages | `M#<group or low#high>` / `<n, 20 digits>` | `message`, `mid`, `at`, `n`, `ttl` |

use aws_sdk_dynamodb::types::{ConditionCheck, ReturnConsumedCapacity, TransactWriteItem, Update};

use super::capacity::{Read, item_size, read_units};
use super::items::*;
use super::metrics::{Kind, Tally};
use super::schema::SK;
use super::{DynamoStore, Outcome, failed, sdk_error};
use crate::domain::conversation::{
    Conversation, ConversationDetail, HistoryFrom, HistoryPage, InboxCursor, InboxPage, ReadOutcome, Receipt, Span,
    inbox_page, next_page, pair_key,
};
use crate::domain::{ConversationId, MessageId, MessageJson, Name, Number, Participation, ReadMark, Rejection, UserId};
use crate::store::{StoreError, StoreResult};

/// What a conversation with a user who was erased is called, when no name was kept.
const ERASED: &str = "deleted user";

pub(super) fn side_key(user: &UserId, conversation: &str) -> Item {
    entity_key(user_pk(user), side_sk(conversation))
}

/// A user's side of a conversation as stored (the read position of a direct conversation lives
/// in its summary: see [`read_in_pair`]).
pub(super) fn side_from(item: &Item) -> StoreResult<Participation> {
    let spans: Vec<Span> = match item.get("spans").and_then(|v| v.as_s().ok()) {
        Some(json) => serde_json::from_str(json).map_err(|e| StoreError::unavailable(format!("corrupt spans: {e}")))?,
        None => Vec::new(),
    };
    let joined_at = if item.contains_key("joined_at") { get_n(item, "joined_at")? } else { 0 };
    let read = match (item.get("r"), item.get("ri").and_then(|v| v.as_s().ok())) {
        (Some(_), Some(id)) => Some(read_mark(get_n(item, "r")?, id)?),
        _ => None,
    };
    Ok(Participation { spans, read, joined_at })
}

fn read_mark(number: u64, id: &str) -> StoreResult<ReadMark> {
    let message = MessageId::parse(id).ok_or_else(|| StoreError::unavailable("corrupt read position"))?;
    Ok(ReadMark { number: Number(number), message })
}

/// `user`'s read position as the summary of a direct conversation holds it.
fn read_in_pair(summary: &Item, user: &UserId) -> StoreResult<Option<ReadMark>> {
    match (summary.get(&format!("r_{user}")), summary.get(&format!("ri_{user}")).and_then(|v| v.as_s().ok())) {
        (Some(_), Some(id)) => Ok(Some(read_mark(get_n(summary, &format!("r_{user}"))?, id)?)),
        _ => Ok(None),
    }
}

fn latest_of(summary: &Item) -> StoreResult<u64> {
    if summary.contains_key("n") { get_n(summary, "n") } else { Ok(0) }
}

fn last_of(summary: &Item) -> StoreResult<Option<MessageJson>> {
    summary
        .get("last")
        .and_then(|v| v.as_s().ok())
        .map(|json| MessageJson::from_stored(json.as_bytes()).map_err(StoreError::unavailable))
        .transpose()
}

fn name(raw: Option<&str>) -> Name {
    raw.and_then(|raw| Name::parse(raw).ok()).unwrap_or_else(|| Name::parse(ERASED).expect("a valid name"))
}

/// Where a conversation's summary is: a direct one's own item, or the group item.
fn summary_key(user: &UserId, id: &ConversationId) -> Item {
    match id {
        ConversationId::Direct(peer) => entity_key(pair_pk(&pair_key(user, peer)), PAIR),
        ConversationId::Group(group) => entity_key(group_pk(group), GROUP),
    }
}

fn log_key(shared: &str, number: u64) -> Item {
    entity_key(log_pk(shared), log_sk(number))
}

fn conversation_id(side: &Item) -> StoreResult<ConversationId> {
    let sk = get_s(side, SK)?;
    sk.strip_prefix(SIDE).and_then(ConversationId::parse).ok_or_else(|| StoreError::unavailable("corrupt side"))
}

/// A conversation as the inbox shows it, from `user`'s side, its summary and (when the newest
/// message they may read is not the summary's) that message.
fn assemble(
    user: &UserId,
    id: ConversationId,
    mut side: Participation,
    summary: Option<&Item>,
    older_last: Option<MessageJson>,
    group_name: Option<&str>,
) -> StoreResult<Conversation> {
    let latest = summary.map(latest_of).transpose()?.unwrap_or(0);
    let (name, last_message) = match &id {
        ConversationId::Direct(peer) => {
            let summary = summary.ok_or_else(|| StoreError::unavailable("a direct conversation without summary"))?;
            side.read = read_in_pair(summary, user)?;
            let name = summary.get(&format!("name_{peer}")).and_then(|v| v.as_s().ok()).map(String::as_str);
            (self::name(name), last_of(summary)?)
        }
        ConversationId::Group(_) => {
            let latest_is_theirs = side.last_visible(latest) == Some(Number(latest)) && latest > 0;
            let last = match older_last {
                Some(older) => Some(older),
                None if latest_is_theirs => summary.map(last_of).transpose()?.flatten(),
                None => None,
            };
            let stored = summary.and_then(|s| s.get("name")).and_then(|v| v.as_s().ok()).map(String::as_str);
            (self::name(stored.or(group_name)), last)
        }
    };
    let sent_at = last_message.as_ref().and_then(|json| json.decode().ok()).map(|m| m.sent_at.timestamp_millis());
    Ok(Conversation {
        updated_at: sent_at.map_or(side.joined_at, |at| at.max(0) as u64),
        unread: side.unread(latest),
        read_up_to: side.read.as_ref().map(|mark| mark.message.clone()),
        last_message,
        name,
        id,
    })
}

impl DynamoStore {
    async fn sides(&self, user: &UserId, tally: &mut Tally) -> StoreResult<Vec<Item>> {
        self.query_entities(user_pk(user), SIDE, tally).await
    }

    pub(super) async fn inbox_now(
        &self,
        user: &UserId,
        before: Option<&InboxCursor>,
        limit: usize,
        tally: &mut Tally,
    ) -> StoreResult<InboxPage> {
        let sides = self.sides(user, tally).await?;
        let mut parsed = Vec::with_capacity(sides.len());
        let mut keys = Vec::new();
        for item in &sides {
            let id = conversation_id(item)?;
            let side = side_from(item)?;
            // A group they left needs its newest message of theirs, not the group's summary.
            let key = match (&id, side.is_member()) {
                (ConversationId::Group(group), false) => {
                    side.last_visible(0).map(|n| log_key(group.as_str(), n.0)).unwrap_or_else(|| summary_key(user, &id))
                }
                _ => summary_key(user, &id),
            };
            keys.push(key);
            let group_name = item.get("name").and_then(|v| v.as_s().ok()).cloned();
            parsed.push((id, side, group_name));
        }
        let found = self.batch_get(&self.options.entities_table, keys, None, tally).await?;
        let by_key = |pk: String, sk: &str| {
            found.iter().find(|item| get_s(item, "pk").ok() == Some(pk.as_str()) && get_s(item, SK).ok() == Some(sk))
        };
        let mut all = Vec::with_capacity(parsed.len());
        for (id, side, group_name) in parsed {
            let summary_item = match &id {
                ConversationId::Direct(peer) => by_key(pair_pk(&pair_key(user, peer)), PAIR),
                ConversationId::Group(group) if side.is_member() => by_key(group_pk(group), GROUP),
                ConversationId::Group(_) => None,
            };
            let older = match (&id, side.is_member(), side.last_visible(0)) {
                (ConversationId::Group(group), false, Some(n)) => by_key(log_pk(group.as_str()), &log_sk(n.0))
                    .map(|item| {
                        MessageJson::from_stored(get_s(item, "message")?.as_bytes()).map_err(StoreError::unavailable)
                    })
                    .transpose()?,
                _ => None,
            };
            let conversation = match (&id, side.is_member()) {
                // What they received: the group's count when they left is their last span's end.
                (ConversationId::Group(_), false) => {
                    let count = side.last_visible(0).map_or(0, |n| n.0);
                    let mut summary = std::collections::HashMap::new();
                    summary.insert("n".to_owned(), n(count));
                    assemble(user, id, side, Some(&summary), older, group_name.as_deref())?
                }
                _ => assemble(user, id, side, summary_item, None, group_name.as_deref())?,
            };
            all.push(conversation);
        }
        Ok(inbox_page(all, before, limit))
    }

    /// The summary and the caller's side of one conversation; `None` if it is not theirs.
    async fn summary_and_side(
        &self,
        user: &UserId,
        id: &ConversationId,
        tally: &mut Tally,
    ) -> StoreResult<Option<(Item, Participation)>> {
        let keys = vec![summary_key(user, id), side_key(user, id.as_str())];
        let found = self.batch_get(&self.options.entities_table, keys, None, tally).await?;
        let side = found.iter().find(|item| get_s(item, SK).is_ok_and(|sk| sk.starts_with(SIDE)));
        let summary = found.iter().find(|item| get_s(item, SK).is_ok_and(|sk| sk == PAIR || sk == GROUP));
        match (summary, side) {
            (Some(summary), Some(side)) => {
                let mut participation = side_from(side)?;
                if let ConversationId::Direct(_) = id {
                    participation.read = read_in_pair(summary, user)?;
                }
                Ok(Some((summary.clone(), participation)))
            }
            _ => Ok(None),
        }
    }

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

    pub(super) async fn conversation_now(
        &self,
        user: &UserId,
        id: &ConversationId,
        tally: &mut Tally,
    ) -> StoreResult<ConversationDetail> {
        let (summary, side) = self.summary_and_side(user, id, tally).await?.ok_or(Rejection::UnknownConversation)?;
        let receipts = match id {
            ConversationId::Direct(peer) => {
                let mut members = vec![user.clone()];
                if peer != user {
                    members.push(peer.clone());
                }
                let mut receipts = Vec::new();
                for member in members {
                    let read = read_in_pair(&summary, &member)?.map(|mark| mark.message);
                    receipts.push(Receipt { user: member, read_up_to: read });
                }
                receipts
            }
            ConversationId::Group(group) => {
                let (found, _) = group_from_item(group, &summary)?;
                found.require_member(user)?;
                let keys = found.members.iter().map(|member| side_key(member, group.as_str())).collect();
                let sides = self.batch_get(&self.options.entities_table, keys, None, tally).await?;
                let mut receipts = Vec::with_capacity(found.members.len());
                for member in found.members {
                    let pk = user_pk(&member);
                    let read = match sides.iter().find(|item| get_s(item, "pk").ok() == Some(pk.as_str())) {
                        Some(item) => side_from(item)?.read.map(|mark| mark.message),
                        None => None,
                    };
                    receipts.push(Receipt { user: member, read_up_to: read });
                }
                receipts
            }
        };
        let conversation = assemble(user, id.clone(), side, Some(&summary), None, None)?;
        Ok(ConversationDetail { conversation, members: receipts })
    }
}

impl DynamoStore {
    /// Marks the direct conversation `pair` as one whose other user was erased: sends to them
    /// fail (`UnknownUser`) from now on, while the remaining user keeps the conversation.
    pub(super) async fn mark_gone(&self, pair: &str, tally: &mut Tally) -> StoreResult<()> {
        let key = entity_key(pair_pk(pair), PAIR);
        let request = self
            .client
            .update_item()
            .table_name(&self.options.entities_table)
            .set_key(Some(key.clone()))
            .update_expression("SET gone = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        tally.bill_write(super::capacity::write_units(
            tally.known(&self.options.entities_table, &key).unwrap_or(1024),
            false,
        ));
        let result = Self::call(tally, Kind::Write, || request.clone().send()).await?;
        match result {
            Ok(output) => tally.request(Kind::Write, output.consumed_capacity()),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                tally.request(Kind::Write, None)
            }
            Err(error) => return Err(sdk_error(error)),
        }
        Ok(())
    }
}
