//! Conversations on DynamoDB (items in the module docs of [`super`]): the inbox and receipts;
//! history pages in [`super::history`], read positions in [`super::read_marks`].
//!
//! | item | key | attributes |
//! |---|---|---|
//! | a user's side of a conversation | `U#<user>` / `conv#<peer or group>` | `spans`, `joined_at`; for a group `r`, `ri` (read position as read marks set it) |
//! | a direct conversation's summary | `P#<low>#<high>` / `pair` | `n`, `last`, `name_<user>`, `r_<user>`, `ri_<user>`, `gone` |
//! | a group's summary | the group item | `n`, `last`, `sent` (each member's newest message: [`super::send_marks`]) |
//! | a conversation's messages | `M#<group or low#high>` / `<n, 20 digits>` | `message`, `mid`, `at`, `n`, `ttl` |
//! | a group's current members' spans | `M#<group>` / `~members` | `s_<user>` ([`super::items::member_entry`]) |

use super::DynamoStore;
use super::items::*;
use super::metrics::Tally;
use super::schema::SK;
use super::send_marks::{SendMark, mark_of, marks_of};
use crate::domain::conversation::{
    Conversation, ConversationDetail, InboxCursor, InboxPage, Receipt, Span, inbox_page, pair_key,
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

/// `user`'s read position in a group: their side's, or their newest message there if that is
/// further (it lives on the group item, `group`: see [`super::send_marks`]).
fn fold_sent(side: &mut Participation, group: &Item, user: &UserId) -> StoreResult<()> {
    if let Some(sent) = mark_of(group, user)? {
        side.mark_read(sent);
    }
    Ok(())
}

/// `user`'s read position as the summary of a direct conversation holds it.
pub(super) fn read_in_pair(summary: &Item, user: &UserId) -> StoreResult<Option<ReadMark>> {
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
pub(super) fn summary_key(user: &UserId, id: &ConversationId) -> Item {
    match id {
        ConversationId::Direct(peer) => entity_key(pair_pk(&pair_key(user, peer)), PAIR),
        ConversationId::Group(group) => entity_key(group_pk(group), GROUP),
    }
}

pub(super) fn log_key(shared: &str, number: u64) -> Item {
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

    /// A rename reaches the summaries of the user's direct conversations, which keep both names
    /// so that an inbox page reads no profiles: one Query and one update per conversation, paid
    /// by the rare rename instead of by every inbox read.
    pub(super) async fn rename_in_pairs(&self, user: &UserId, name: &Name, tally: &mut Tally) -> StoreResult<()> {
        for side in self.sides(user, tally).await? {
            let ConversationId::Direct(peer) = conversation_id(&side)? else { continue };
            let key = entity_key(pair_pk(&pair_key(user, &peer)), PAIR);
            let attribute = format!("name_{user}");
            let mut written = key.clone();
            written.insert(attribute.clone(), s(name.as_str()));
            self.bill_put(&self.options.entities_table, &written, tally);
            let update = self
                .client
                .update_item()
                .set_key(Some(key))
                .update_expression("SET #n = :n")
                // An erased peer's summary may be gone: then there is nothing to rename.
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#n", attribute)
                .expression_attribute_values(":n", s(name.as_str()));
            self.update_if(update, tally).await?;
        }
        Ok(())
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
        // Indexed once: a thousand conversations would otherwise scan a thousand items each.
        let index: std::collections::HashMap<(&str, &str), &Item> =
            found.iter().filter_map(|item| Some(((get_s(item, "pk").ok()?, get_s(item, SK).ok()?), item))).collect();
        let by_key = |pk: String, sk: &str| index.get(&(pk.as_str(), sk)).copied();
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
            let mut side = side;
            if let (ConversationId::Group(_), Some(group)) = (&id, summary_item) {
                fold_sent(&mut side, group, user)?;
            }
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
    pub(super) async fn summary_and_side(
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
                match id {
                    ConversationId::Direct(_) => participation.read = read_in_pair(summary, user)?,
                    ConversationId::Group(_) => fold_sent(&mut participation, summary, user)?,
                }
                Ok(Some((summary.clone(), participation)))
            }
            _ => Ok(None),
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
                let marks = marks_of(&summary)?.unwrap_or_default();
                let mut receipts = Vec::with_capacity(found.members.len());
                for (index, member) in found.members.into_iter().enumerate() {
                    let pk = user_pk(&member);
                    let mut read = match sides.iter().find(|item| get_s(item, "pk").ok() == Some(pk.as_str())) {
                        Some(item) => side_from(item)?,
                        None => Participation { spans: Vec::new(), read: None, joined_at: 0 },
                    };
                    if let Some(sent) = marks.get(index).and_then(SendMark::read) {
                        read.mark_read(sent.clone());
                    }
                    receipts.push(Receipt { user: member, read_up_to: read.read.map(|mark| mark.message) });
                }
                receipts
            }
        };
        let conversation = assemble(user, id.clone(), side, Some(&summary), None, None)?;
        Ok(ConversationDetail { conversation, members: receipts })
    }
}
