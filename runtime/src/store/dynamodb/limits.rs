//! The shared limits ([`crate::domain::limits`]) on DynamoDB: one counter item per rule, subject
//! and minute in the entities table, moved by a conditional update, so every instance counts in
//! the same place.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `L#<rule>#<subject>` | `<window>` | `n` (the count), `ttl` |
//! | `L#send#<user>` | `<window>` | `s` (sends), `f` (feed writes), `ttl` |
//!
//! A charge is one `UpdateItem` (`ADD` on the condition that the count stays within the limit;
//! one write unit). A send's two rules are charged inside the send's first transaction, by one
//! more item in it: no extra request, two (transactional) write units, and a send refused by
//! another rule, or cancelled and retried, counts nothing. Items expire by `ttl` a window after
//! their own; none is read.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{CancellationReason, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};

use super::capacity::{item_size, write_units};
use super::items::*;
use super::metrics::Tally;
use super::schema::TTL;
use super::{DynamoStore, now_secs};
use crate::domain::limits::{WINDOW_SECS, Window};
use crate::domain::{Rejection, Rule, UserId};
use crate::store::{StoreError, StoreResult};

const COUNT: &str = "n";
const SENDS: &str = "s";
const FEEDS: &str = "f";

fn counter_key(rule: &str, subject: &str, window: Window) -> Item {
    entity_key(format!("L#{rule}#{subject}"), window.0.to_string())
}

/// The rule's part of a counter's key: short, since every counter item carries it.
fn rule_key(rule: Rule) -> &'static str {
    match rule {
        Rule::UnauthenticatedPerIp => "ip",
        Rule::SendsPerUser | Rule::FanoutPerUser => "send",
        Rule::MembershipChangesPerUser => "member",
        Rule::ConnectsPerUser => "connect",
        Rule::SocketMessagesPerUser => "socket",
        Rule::ConnectionsPerUser => "open",
    }
}

/// When a window's counter item may go: a window after its own ends.
fn expiry(window: Window) -> u64 {
    window.end() + WINDOW_SECS
}

/// The refusal of `rule` at `now`.
pub(super) fn refused(rule: Rule, now: u64) -> StoreError {
    Rejection::RateLimited { rule, retry_after_secs: Window::at(now).retry_after(now) }.into()
}

/// The counter item of a transaction that charges a send.
pub(super) struct SendCharge {
    pub item: TransactWriteItem,
    feeds: u32,
}

impl SendCharge {
    /// The refusal when the counter's condition failed: fan-out's when the count DynamoDB
    /// returns shows that one over, the sends' otherwise.
    pub fn refusal(&self, reason: &CancellationReason, limits: &crate::domain::RuleLimits) -> StoreError {
        let counted = |attribute: &str| reason.item().and_then(|item| get_n(item, attribute).ok()).unwrap_or(0);
        let over_fanout = limits
            .of(Rule::FanoutPerUser)
            .is_some_and(|limit| !crate::domain::limits::fits(counted(FEEDS), self.feeds, limit));
        let sends_on = limits.of(Rule::SendsPerUser).is_some();
        let rule = if over_fanout || !sends_on { Rule::FanoutPerUser } else { Rule::SendsPerUser };
        refused(rule, now_secs())
    }
}

impl DynamoStore {
    /// Counts `amount` of `rule` for `subject` in this window, or refuses counting nothing.
    pub(super) async fn count(&self, rule: Rule, subject: &str, amount: u32, tally: &mut Tally) -> StoreResult<()> {
        let Some(limit) = self.options.limits.of(rule) else {
            return Ok(());
        };
        let now = now_secs();
        let Some(most) = limit.checked_sub(amount) else {
            return Err(refused(rule, now));
        };
        let window = Window::at(now);
        let key = counter_key(rule_key(rule), subject, window);
        let mut written = key.clone();
        written.insert(COUNT.into(), n(limit));
        written.insert(TTL.into(), n(expiry(window)));
        tally.bill_write(write_units(item_size(&written), false));
        let update = self
            .client
            .update_item()
            .set_key(Some(key))
            .update_expression("ADD #n :amount SET #t = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n <= :most")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_names("#t", TTL)
            .expression_attribute_values(":amount", n(amount))
            .expression_attribute_values(":most", n(most))
            .expression_attribute_values(":ttl", n(expiry(window)));
        if self.update_if(update, tally).await? { Ok(()) } else { Err(refused(rule, now)) }
    }

    /// The item that charges a send by `sender` writing `feeds` feed entries, for its first
    /// transaction; `None` when both rules are off. Refuses at once a send that cannot fit.
    pub(super) fn send_charge(&self, sender: &UserId, feeds: usize) -> StoreResult<Option<SendCharge>> {
        let limits = &self.options.limits;
        let feeds = u32::try_from(feeds).unwrap_or(u32::MAX);
        let (sends, fanout) = (limits.of(Rule::SendsPerUser), limits.of(Rule::FanoutPerUser));
        let now = now_secs();
        let window = Window::at(now);
        let mut conditions = Vec::new();
        let mut values = HashMap::from([
            (":one".to_owned(), n(1)),
            (":feeds".to_owned(), n(feeds)),
            (":ttl".to_owned(), n(expiry(window))),
        ]);
        for (rule, limit, attribute, amount) in
            [(Rule::SendsPerUser, sends, SENDS, 1), (Rule::FanoutPerUser, fanout, FEEDS, feeds)]
        {
            let Some(limit) = limit else { continue };
            let most = limit.checked_sub(amount).ok_or_else(|| refused(rule, now))?;
            conditions.push(format!("(attribute_not_exists({attribute}) OR {attribute} <= :{attribute}most)"));
            values.insert(format!(":{attribute}most"), n(most));
        }
        if conditions.is_empty() {
            return Ok(None);
        }
        let update = Update::builder()
            .table_name(&self.options.entities_table)
            .set_key(Some(counter_key(rule_key(Rule::SendsPerUser), sender.as_str(), window)))
            .update_expression(format!("ADD {SENDS} :one, {FEEDS} :feeds SET #t = :ttl"))
            .condition_expression(conditions.join(" AND "))
            .expression_attribute_names("#t", TTL)
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(Some(SendCharge { item: TransactWriteItem::builder().update(update).build(), feeds }))
    }
}
