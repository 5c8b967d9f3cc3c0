//! History pages on DynamoDB: one `Query` of a conversation's log, stopping at a gap in its
//! numbers as a poll does at a gap in positions (see the module docs of [`super`]).
//!
//! A group's page also needs whose its numbers are: the caller's spans. The log's partition keeps
//! them, for every current member, in one item sorted after every number ([`MEMBERS`]), so a page
//! read from the top of the log (the first page, or forward to the newest) reads them in the same
//! `Query`; and a page's `next` cursor vouches for them, signed ([`Vouched`]), so the page after
//! it reads nothing else either. What neither answers for — a cursor that is a message id, a
//! former member, a member of a group from before [`MEMBERS`], their stints before the current
//! one — is read from their side of the conversation, one `GetItem` more.

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::{ConditionCheck, ReturnConsumedCapacity, TransactWriteItem, Update};

use super::capacity::{Read, item_size, read_units, value_size};
use super::conversations::{side_from, side_key};
use super::items::*;
use super::metrics::{Kind, Tally};
use super::schema::SK;
use super::{DynamoStore, sdk_error};
use crate::domain::conversation::{HistoryFrom, HistoryPage, Span, Vouched, next_page};
use crate::domain::{ConversationId, GroupId, MessageJson, Number, Participation, UserId};
use crate::store::{StoreError, StoreResult};

/// Higher than any number a conversation reaches: a span still open ends here.
const OPEN: u64 = u64::MAX / 2;

/// A page to read: whose numbers, which way, between which numbers.
struct Plan<'a> {
    shared: &'a str,
    side: &'a Participation,
    from: HistoryFrom,
    limit: usize,
    /// The lowest and highest number the page may hold.
    lowest: u64,
    highest: u64,
}

impl<'a> Plan<'a> {
    /// The numbers of `side` read from `from`, up to `highest`.
    fn new(shared: &'a str, side: &'a Participation, from: HistoryFrom, limit: usize, highest: u64) -> Self {
        let (low, high) = match from {
            HistoryFrom::Newest => (1, OPEN),
            HistoryFrom::Before(n) => (1, n.0.saturating_sub(1)),
            HistoryFrom::After(n) => (n.0.saturating_add(1), OPEN),
        };
        let lowest = side.spans.first().map_or(1, |span| span.from + 1).max(low);
        let top = side.spans.iter().map(|span| span.to.unwrap_or(OPEN)).max().unwrap_or(0);
        Self { shared, side, from, limit, lowest, highest: top.min(high).min(highest) }
    }

    fn empty(&self) -> bool {
        self.lowest > self.highest
    }

    /// The page of a plan with no numbers to read.
    fn empty_page(&self, vouched: Vouched) -> HistoryPage {
        HistoryPage { messages: Vec::new(), next: next_page(self.from, &[], false), vouched: Some(vouched) }
    }
}

/// What reading from the top of a group's log gave.
enum Top {
    Page(HistoryPage),
    /// The group's list of spans (of this many bytes, 0 if there is none) does not name the
    /// caller: a former member, or one from before the list was kept.
    Unlisted(u64),
    /// The page would reach the caller's stints before the current one.
    Earlier,
}

/// A group member's entry in [`MEMBERS`]: where their current span starts, and whether they had
/// stints before it (which only their side holds).
fn listed(members: &Item, user: &UserId) -> StoreResult<Option<(u64, bool)>> {
    let name = member_attribute(user);
    if !members.contains_key(&name) {
        return Ok(None);
    }
    Ok(Some(member_of(get_n(members, &name)?)))
}

/// The number of a log item.
fn number_of(item: &Item) -> StoreResult<u64> {
    get_n(item, "n")
}

impl DynamoStore {
    pub(super) async fn history_now(
        &self,
        user: &UserId,
        id: &ConversationId,
        from: HistoryFrom,
        vouched: Option<&Vouched>,
        limit: usize,
        tally: &mut Tally,
    ) -> StoreResult<Option<HistoryPage>> {
        let ConversationId::Group(group) = id else {
            // A direct conversation is its two users' whole log, under a key that is the caller's.
            let shared = id.shared_key(user);
            let side = Participation::direct(0);
            let plan = Plan::new(&shared, &side, from, limit, OPEN);
            let output = self.log_query(&plan, tally).await?;
            if from == HistoryFrom::Newest && output.items().is_empty() {
                return Ok(None);
            }
            let more = output.last_evaluated_key().is_some();
            return self.page(&plan, output.items(), more, None, tally).await.map(Some);
        };
        if let Some(vouched) = vouched.filter(|vouched| vouched.covers(from)) {
            let side = vouched.side();
            let plan = Plan::new(group.as_str(), &side, from, limit, vouched.highest());
            let page = self.query_page(&plan, vouched.clone(), tally).await?;
            return Ok(Some(below_vouched(page, vouched)));
        }
        let mut unlisted = None;
        if let HistoryFrom::Newest | HistoryFrom::After(_) = from {
            match self.page_from_top(user, group, from, limit, tally).await? {
                Top::Page(page) => return Ok(Some(page)),
                Top::Unlisted(bytes) => unlisted = Some(bytes),
                Top::Earlier => {}
            }
        }
        let Some(item) = self.get_entity(user_pk(user), &side_sk(group.as_str()), tally).await? else {
            return Ok(None);
        };
        let side = side_from(&item)?;
        if let Some(bytes) = unlisted.filter(|_| side.is_member()) {
            self.list_member(user, group, &item, &side, bytes, tally).await?;
        }
        let plan = Plan::new(group.as_str(), &side, from, limit, OPEN);
        let mut page =
            self.query_page(&plan, Vouched { spans: side.spans.clone(), above: 0, settled: 0 }, tally).await?;
        // What the side says holds for the numbers that existed when it was read: those the page
        // found, read after it. Not the cursor's: a message id can name any number.
        if let Some(vouched) = page.vouched.as_mut() {
            vouched.settled = page.messages.iter().map(|(n, _)| n.0).max().unwrap_or(0);
        }
        Ok(Some(page))
    }

    /// A member the group's list of spans does not name yet (they joined before the list was
    /// kept) is named now, so that their next first page is one request: on the condition that
    /// their side is still as read, so that a removal meanwhile is not undone. Best effort.
    async fn list_member(
        &self,
        user: &UserId,
        group: &GroupId,
        item: &Item,
        side: &Participation,
        bytes: u64,
        tally: &mut Tally,
    ) -> StoreResult<()> {
        let (Some(spans), Some(current)) = (item.get("spans"), side.spans.last()) else { return Ok(()) };
        let table = &self.options.entities_table;
        let members = entity_key(log_pk(group.as_str()), MEMBERS);
        // Its update is billed by its size.
        tally.remember(table, &members, bytes);
        let (name, entry) = (member_attribute(user), n(member_entry(current.from, side.spans.len() > 1)));
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(side_key(user, group.as_str())))
            .condition_expression("spans = :s")
            .expression_attribute_values(":s", spans.clone())
            .build()
            .map_err(StoreError::unavailable)?;
        let listing = Update::builder()
            .table_name(table)
            .set_key(Some(members))
            .update_expression("SET #m = :m ADD #b :d")
            .expression_attribute_names("#m", name.clone())
            .expression_attribute_names("#b", LISTING_BYTES)
            .expression_attribute_values(":m", entry.clone())
            .expression_attribute_values(":d", n(name.len() as u64 + value_size(&entry)))
            .build()
            .map_err(StoreError::unavailable)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().update(listing).build(),
        ];
        // Cancelled: their side changed (a removal, a rejoin). Failed: the page needs none of
        // it. Either way the next first page tries again.
        if let Err(error) = self.transact(items, tally).await {
            tracing::warn!(%error, "a group member could not be named in its list of spans");
        }
        Ok(())
    }

    /// A group's page read from the top of its log with the members' spans: the first page, or
    /// forward to the newest — unless the list does not name the caller, or the page would reach
    /// their stints before the current one.
    async fn page_from_top(
        &self,
        user: &UserId,
        group: &GroupId,
        from: HistoryFrom,
        limit: usize,
        tally: &mut Tally,
    ) -> StoreResult<Top> {
        let after = match from {
            HistoryFrom::After(n) => n.0,
            _ => 0,
        };
        let query = self
            .client
            .query()
            .table_name(&self.options.entities_table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(log_pk(group.as_str())))
            .expression_attribute_values(":lo", s(log_sk(after.saturating_add(1))))
            .expression_attribute_values(":hi", s(MEMBERS))
            .projection_expression("sk, n, message, #at, #me, #b")
            .expression_attribute_names("#at", "at")
            .expression_attribute_names("#me", member_attribute(user))
            .expression_attribute_names("#b", LISTING_BYTES)
            .scan_index_forward(false)
            .consistent_read(true)
            // The spans item, the page and one more to tell whether there is more.
            .limit(i32::try_from(limit + 2).unwrap_or(i32::MAX))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        // The list is billed whole: its size is in it.
        let unseen = |items: &[Item]| match items.first() {
            Some(first) => Ok(recorded_size(first)?.saturating_sub(item_size(first))),
            None => Ok(0),
        };
        let output = self.send_query(query, unseen, tally).await?;
        let items = output.items();
        let Some(members) = items.first().filter(|item| get_s(item, SK).is_ok_and(|sk| sk == MEMBERS)) else {
            return Ok(Top::Unlisted(0));
        };
        let Some((start, earlier)) = listed(members, user)? else {
            return Ok(Top::Unlisted(recorded_size(members)?));
        };
        // Forward from before their current stint: what came before it only their side says.
        if matches!(from, HistoryFrom::After(_)) && after < start && earlier {
            return Ok(Top::Earlier);
        }
        let logs = &items[1..];
        // What the spans item says holds for every number the Query found with it.
        let settled = logs.first().map(number_of).transpose()?.unwrap_or(start);
        let vouched =
            Vouched { spans: vec![Span { from: start, to: None }], above: if earlier { start } else { 0 }, settled };
        let side = vouched.side();
        let plan = Plan::new(group.as_str(), &side, from, limit, settled);
        if plan.empty() {
            return Ok(Top::Page(plan.empty_page(vouched)));
        }
        let whole = output.last_evaluated_key().is_none() && logs.len() <= limit;
        let page = match from {
            HistoryFrom::After(_) if whole => {
                // Everything after the cursor, newest first: the page is the same, oldest first.
                let ascending: Vec<Item> = logs.iter().rev().cloned().collect();
                self.page(&plan, &ascending, false, Some(vouched.clone()), tally).await?
            }
            // More follows the cursor than one page: read its oldest.
            HistoryFrom::After(_) => self.query_page(&plan, vouched.clone(), tally).await?,
            _ => self.page(&plan, logs, !whole, Some(vouched.clone()), tally).await?,
        };
        Ok(Top::Page(below_vouched(page, &vouched)))
    }

    /// A page read with one `Query` of the log between the plan's numbers.
    async fn query_page(&self, plan: &Plan<'_>, vouched: Vouched, tally: &mut Tally) -> StoreResult<HistoryPage> {
        if plan.empty() {
            return Ok(plan.empty_page(vouched));
        }
        let output = self.log_query(plan, tally).await?;
        let more = output.last_evaluated_key().is_some();
        self.page(plan, output.items(), more, Some(vouched), tally).await
    }

    async fn log_query(&self, plan: &Plan<'_>, tally: &mut Tally) -> StoreResult<QueryOutput> {
        let query = self
            .client
            .query()
            .table_name(&self.options.entities_table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(log_pk(plan.shared)))
            .expression_attribute_values(":lo", s(log_sk(plan.lowest)))
            .expression_attribute_values(":hi", s(log_sk(plan.highest.max(plan.lowest))))
            .projection_expression("n, message, #at")
            .expression_attribute_names("#at", "at")
            .scan_index_forward(!plan.from.newest_first())
            .consistent_read(true)
            .limit(i32::try_from(plan.limit + 1).unwrap_or(i32::MAX))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        self.send_query(query, |_| Ok(0), tally).await
    }

    /// Sends a `Query`, billed by what it returned plus `unseen` bytes it read but left out.
    async fn send_query(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        unseen: impl FnOnce(&[Item]) -> StoreResult<u64>,
        tally: &mut Tally,
    ) -> StoreResult<QueryOutput> {
        let output = Self::call(tally, Kind::Read, || query.clone().send()).await?.map_err(sdk_error)?;
        tally.request(Kind::Read, output.consumed_capacity());
        let seen: u64 = output.items().iter().map(item_size).sum();
        tally.bill_read(read_units(seen + unseen(output.items())?, Read::Strong));
        Ok(output)
    }

    /// The page the log items `items` (in the plan's order) make; `more`: the read stopped
    /// before the end of the plan's numbers. `vouched` goes with the page's `next`.
    async fn page(
        &self,
        plan: &Plan<'_>,
        items: &[Item],
        more: bool,
        vouched: Option<Vouched>,
        tally: &mut Tally,
    ) -> StoreResult<HistoryPage> {
        let Plan { shared, side, from, limit, lowest, .. } = *plan;
        let mut messages = Vec::with_capacity(limit.min(items.len()));
        let mut bytes = 0;
        let mut expected = match from {
            HistoryFrom::After(n) => side.next_after(n.0),
            HistoryFrom::Before(n) => side.next_before(n.0, OPEN),
            HistoryFrom::Newest => None,
        };
        // When the entry before a gap (in the direction of reading) was written, once known: at
        // the start of a page, the cursor's own, read only if the page starts with a gap.
        let mut previous_at: Option<Option<u64>> = None;
        let mut more = more || items.len() > limit;
        for item in items {
            let number = number_of(item)?;
            if from.newest_first() && number < lowest {
                // Read from the top of the log, past the first number that could be theirs.
                more = false;
                break;
            }
            if number < lowest || number > plan.highest || !side.contains(Number(number), OPEN) {
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
                        self.log_entry_at(shared, n.0, tally).await?
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
            expected = if from.newest_first() { side.next_before(number, OPEN) } else { side.next_after(number) };
        }
        let more = more || (from.newest_first() && expected.is_some_and(|n| n >= lowest));
        Ok(HistoryPage { next: next_page(from, &messages, more), messages, vouched })
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

/// A page going back that reached the floor of what `vouched` answers for goes on below it (the
/// next page reads the caller's side for their earlier stints).
fn below_vouched(mut page: HistoryPage, vouched: &Vouched) -> HistoryPage {
    if page.next.is_none() && vouched.above > 0 {
        page.next = Some(HistoryFrom::Before(Number(vouched.above + 1)));
    }
    page
}
