//! Requests made and capacity consumed, per store operation: what the request budget tests assert
//! and what `measure-usage` records for the cost report (in the contract's usage schema).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use aws_sdk_dynamodb::types::ConsumedCapacity;

use super::capacity::Attributes;
use super::retry::{Deadline, Retry};
use serde::Serialize;

/// The store's operations, as its counters name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    CreateUser,
    GetUser,
    UpsertAppUser,
    GetAppUser,
    EraseAppUser,
    CreateSession,
    RefreshSession,
    RevokeSession,
    RevokeSessions,
    Block,
    Unblock,
    ListBlocks,
    CreateGroup,
    GetGroup,
    AddMember,
    RemoveMember,
    SendDirect,
    SendGroup,
    Poll,
    Connect,
    ConnectionOwner,
    ExtendConnection,
    Disconnect,
    ForgetConnection,
    PushLookup,
    Charge,
    Inbox,
    History,
    MarkRead,
    GetConversation,
}

impl Op {
    /// The name its totals are kept under, which the request-budget tests and the README use.
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateUser => "create_user",
            Self::GetUser => "get_user",
            Self::UpsertAppUser => "upsert_app_user",
            Self::GetAppUser => "get_app_user",
            Self::EraseAppUser => "erase_app_user",
            Self::CreateSession => "create_session",
            Self::RefreshSession => "refresh_session",
            Self::RevokeSession => "revoke_session",
            Self::RevokeSessions => "revoke_sessions",
            Self::Block => "block",
            Self::Unblock => "unblock",
            Self::ListBlocks => "list_blocks",
            Self::CreateGroup => "create_group",
            Self::GetGroup => "get_group",
            Self::AddMember => "add_member",
            Self::RemoveMember => "remove_member",
            Self::SendDirect => "send_direct",
            Self::SendGroup => "send_group",
            Self::Poll => "poll",
            Self::Connect => "connect",
            Self::ConnectionOwner => "connection_owner",
            Self::ExtendConnection => "extend_connection",
            Self::Disconnect => "disconnect",
            Self::ForgetConnection => "forget_connection",
            Self::PushLookup => "push_lookup",
            Self::Charge => "charge",
            Self::Inbox => "inbox",
            Self::History => "history",
            Self::MarkRead => "mark_read",
            Self::GetConversation => "get_conversation",
        }
    }
}

/// Totals for one store operation ([`Op::name`]) since start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OperationCost {
    /// Store calls of this operation.
    pub calls: u64,
    /// DynamoDB requests they made, retries by this store included.
    pub requests: u64,
    /// Capacity DynamoDB reported (`ReturnConsumedCapacity`); the emulator reports none for
    /// transactions.
    pub read_units: f64,
    pub write_units: f64,
    /// Request units the requests are billed for on demand, computed from the sizes of the items
    /// they read and wrote by DynamoDB's rules ([`super::capacity`]).
    pub billed_read_units: f64,
    pub billed_write_units: f64,
}

/// What one store call spent, added to the totals when the call ends, and until when it may
/// still run.
#[derive(Debug, Default)]
pub struct Tally {
    pub deadline: Deadline,
    requests: u64,
    read_units: f64,
    write_units: f64,
    billed_read_units: f64,
    billed_write_units: f64,
    /// Sizes of the items this call has read or written, by table and key: a later write to the
    /// same item is billed by the larger of its size before and after.
    sizes: HashMap<String, u64>,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Read,
    Write,
}

impl Tally {
    /// Counts one request and the capacity DynamoDB reported for it. Where DynamoDB reports only
    /// a total (`CapacityUnits`), `kind` says which side it counts on.
    pub fn request<'a>(&mut self, kind: Kind, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        self.requests += 1;
        for capacity in consumed {
            match (capacity.read_capacity_units(), capacity.write_capacity_units()) {
                (None, None) => match kind {
                    Kind::Read => self.read_units += capacity.capacity_units().unwrap_or(0.0),
                    Kind::Write => self.write_units += capacity.capacity_units().unwrap_or(0.0),
                },
                (read, write) => {
                    self.read_units += read.unwrap_or(0.0);
                    self.write_units += write.unwrap_or(0.0);
                }
            }
        }
    }
}

impl Tally {
    pub fn until(deadline: Deadline) -> Self {
        Self { deadline, ..Self::default() }
    }

    /// A retry loop within this call's deadline.
    pub fn retry(&self) -> Retry {
        Retry::within(self.deadline)
    }

    pub fn bill_read(&mut self, units: f64) {
        self.billed_read_units += units;
    }

    pub fn bill_write(&mut self, units: f64) {
        self.billed_write_units += units;
    }

    /// Remembers the size of the item at `key` of `table`.
    pub fn remember(&mut self, table: &str, key: &Attributes, size: u64) {
        self.sizes.insert(key_id(table, key), size);
    }

    /// The size of the item at `key` of `table`, if this call has seen it.
    pub fn known(&self, table: &str, key: &Attributes) -> Option<u64> {
        self.sizes.get(&key_id(table, key)).copied()
    }
}

/// A key as one string, whatever order its attributes are in.
fn key_id(table: &str, key: &Attributes) -> String {
    let mut parts: Vec<String> = key.iter().map(|(name, value)| format!("{name}={value:?}")).collect();
    parts.sort_unstable();
    format!("{table}\0{}", parts.join("\0"))
}

#[derive(Default)]
pub struct Metrics {
    totals: Mutex<BTreeMap<&'static str, OperationCost>>,
}

impl Metrics {
    pub fn add(&self, operation: Op, tally: Tally) {
        let mut totals = self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cost = totals.entry(operation.name()).or_default();
        cost.calls += 1;
        cost.requests += tally.requests;
        cost.read_units += tally.read_units;
        cost.write_units += tally.write_units;
        cost.billed_read_units += tally.billed_read_units;
        cost.billed_write_units += tally.billed_write_units;
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, OperationCost> {
        self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}
