//! `config/usage.toml`: what each API operation costs, measured by `cargo xtask measure-usage`
//! and priced by the cost report. The operations are an enum, so a scenario the measurement
//! renames is a compile error in the cost model, not a missing key at run time.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits::MEASURED_GROUP_SIZES;

/// One of the two measured group sizes ([`MEASURED_GROUP_SIZES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MeasuredGroup {
    Small,
    Large,
}

impl MeasuredGroup {
    pub const ALL: [MeasuredGroup; 2] = [Self::Small, Self::Large];

    pub fn members(self) -> usize {
        match self {
            Self::Small => MEASURED_GROUP_SIZES[0],
            Self::Large => MEASURED_GROUP_SIZES[1],
        }
    }
}

/// Whom a measured send goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Recipients {
    Direct,
    Group(MeasuredGroup),
}

impl Recipients {
    /// Feeds the send writes: the sender's and the recipient's, or every member's.
    pub fn feeds(self) -> usize {
        match self {
            Self::Direct => 2,
            Self::Group(group) => group.members(),
        }
    }
}

/// A measured operation. Variants are in the order of their names, so the usage file lists them
/// alphabetically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// A page of a direct conversation's history (`GET /v1/conversations/{id}/messages`, 20
    /// messages).
    HistoryPage,
    /// The inbox (`GET /v1/conversations`) of a user with a direct conversation and two groups.
    Inbox,
    /// Marking a conversation read (`PUT /v1/conversations/{id}/read`).
    MarkRead,
    /// A poll that finds nothing new.
    PollEmpty,
    /// A poll that finds one message.
    PollOne,
    /// A send; `push`: with every recipient connected to the WebSocket API.
    Send {
        to: Recipients,
        push: bool,
    },
    /// Signing in with an identity token (`POST /v1/sessions`) as a returning user.
    SessionExchange,
    /// Logging out (`DELETE /v1/sessions/current`).
    SessionLogout,
    /// Refreshing a session (`POST /v1/sessions/refresh`).
    SessionRefresh,
    /// The WebSocket API's `$connect`, `$disconnect`, a `ping`, a `reauth` and a `resume` of one
    /// entry.
    WsConnect,
    WsDisconnect,
    WsPing,
    WsReauth,
    WsResume,
}

impl Operation {
    pub const ALL: [Operation; 19] = [
        Self::HistoryPage,
        Self::Inbox,
        Self::MarkRead,
        Self::PollEmpty,
        Self::PollOne,
        Self::send(Recipients::Direct, false),
        Self::send(Recipients::Direct, true),
        Self::send(Recipients::Group(MeasuredGroup::Small), false),
        Self::send(Recipients::Group(MeasuredGroup::Small), true),
        Self::send(Recipients::Group(MeasuredGroup::Large), false),
        Self::send(Recipients::Group(MeasuredGroup::Large), true),
        Self::SessionExchange,
        Self::SessionLogout,
        Self::SessionRefresh,
        Self::WsConnect,
        Self::WsDisconnect,
        Self::WsPing,
        Self::WsReauth,
        Self::WsResume,
    ];

    pub const fn send(to: Recipients, push: bool) -> Self {
        Self::Send { to, push }
    }

    /// The key in `config/usage.toml`, e.g. `send_group_10_push`.
    pub fn name(self) -> String {
        match self {
            Self::HistoryPage => "history_page".into(),
            Self::Inbox => "inbox".into(),
            Self::MarkRead => "mark_read".into(),
            Self::PollEmpty => "poll_empty".into(),
            Self::PollOne => "poll_one".into(),
            Self::Send { to, push } => {
                let to = match to {
                    Recipients::Direct => "direct".to_owned(),
                    Recipients::Group(group) => format!("group_{}", group.members()),
                };
                format!("send_{to}{}", if push { "_push" } else { "" })
            }
            Self::SessionExchange => "session_exchange".into(),
            Self::SessionLogout => "session_logout".into(),
            Self::SessionRefresh => "session_refresh".into(),
            Self::WsConnect => "ws_connect".into(),
            Self::WsDisconnect => "ws_disconnect".into(),
            Self::WsPing => "ws_ping".into(),
            Self::WsReauth => "ws_reauth".into(),
            Self::WsResume => "ws_resume".into(),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|operation| operation.name() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown operation '{name}'")))
    }
}

/// What one API operation costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationUsage {
    /// DynamoDB requests, from the store's counters.
    pub dynamodb_requests: u64,
    /// On-demand request units billed, computed from the real items by DynamoDB's size rules.
    pub read_units: f64,
    pub write_units: f64,
    /// The JSON body the client receives.
    pub response_bytes: u64,
    /// CPU time of the Lambda entry point for one request on one full core (median), measured on
    /// the release binary under a Lambda Runtime API emulator; DynamoDB's round trips are not in it.
    pub lambda_cpu_ms: f64,
}

/// The whole `config/usage.toml`: per-operation usage and how it was measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredUsage {
    pub measured_on: String,
    pub command: String,
    pub machine: String,
    /// When the CPU figures were measured, if not with the rest: kept from an earlier measurement
    /// (`--cpu-from`), because CPU times compare only on the machine they were taken on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_measured_on: Option<String>,
    /// The machine the kept CPU figures were measured on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_machine: Option<String>,
    /// Invocations of each operation the CPU figure is the median of.
    pub invocations: u32,
    /// The text every message of the scenario carries, in bytes.
    pub text_bytes: usize,
    /// A stored feed entry of a direct message with that text, by DynamoDB's size rules.
    pub feed_entry_bytes: u64,
    pub operations: BTreeMap<Operation, OperationUsage>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("usage: no measured operation '{0}'")]
pub struct MissingOperation(pub Operation);

impl MeasuredUsage {
    /// When the figures were measured, with the CPU figures' own date if they are older.
    pub fn measured(&self) -> String {
        match &self.cpu_measured_on {
            Some(cpu) if cpu != &self.measured_on => format!("{} (Lambda CPU {cpu})", self.measured_on),
            _ => self.measured_on.clone(),
        }
    }

    pub fn operation(&self, operation: Operation) -> Result<&OperationUsage, MissingOperation> {
        self.operations.get(&operation).ok_or(MissingOperation(operation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_sorted_and_parse_back() {
        let names: Vec<String> = Operation::ALL.iter().map(|o| o.name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "ALL lists each name once, in the order the file lists them");
        let mut by_order = Operation::ALL;
        by_order.sort();
        assert_eq!(by_order, Operation::ALL, "the enum's order is its names' order");
        for operation in Operation::ALL {
            assert_eq!(Operation::parse(&operation.name()), Some(operation));
        }
        assert_eq!(Operation::send(Recipients::Group(MeasuredGroup::Large), true).name(), "send_group_50_push");
    }

    #[test]
    fn the_committed_usage_file_parses_and_lists_every_operation() {
        let usage: MeasuredUsage = toml::from_str(include_str!("../../config/usage.toml")).unwrap();
        let listed: Vec<Operation> = usage.operations.keys().copied().collect();
        assert_eq!(listed, Operation::ALL);
        let unknown = include_str!("../../config/usage.toml").replace("[operations.ws_ping]", "[operations.ws_pong]");
        let error = toml::from_str::<MeasuredUsage>(&unknown).unwrap_err().to_string();
        assert!(error.contains("unknown operation 'ws_pong'"), "{error}");
    }
}
