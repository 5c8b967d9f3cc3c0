//! The kinds of function invocation a tier makes, with their measured usage and counts: what the
//! Lambda duration, the DynamoDB units and the data out are summed over.

use contract::limits::{CONCURRENT_POSTS, MEASURED_GROUP_SIZES};
use contract::usage::{MeasuredGroup, MeasuredUsage, Operation, OperationUsage, Recipients};

use crate::error::Error;
use crate::format::num;
use crate::inputs::Workload;
use crate::ledger::Ledger;
use crate::model::Deployment;
use crate::traffic::Traffic;

/// One kind of invocation of the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invocation {
    EmptyPoll,
    PollWithNews,
    Direct,
    Group,
    SignIn,
    Refresh,
    Logout,
    Connect,
    Resume,
    Disconnect,
    Ping,
    Reauth,
    Inbox,
    History,
    MarkRead,
}

impl Invocation {
    pub fn label(self) -> &'static str {
        match self {
            Self::EmptyPoll => "empty poll",
            Self::PollWithNews => "poll with messages",
            Self::Direct => "direct message",
            Self::Group => "group message",
            Self::SignIn => "sign-in",
            Self::Refresh => "refresh",
            Self::Logout => "logout",
            Self::Connect => "$connect",
            Self::Resume => "resume",
            Self::Disconnect => "$disconnect",
            Self::Ping => "ping",
            Self::Reauth => "reauth",
            Self::Inbox => "inbox",
            Self::History => "history page",
            Self::MarkRead => "read position",
        }
    }

    /// Whether its answer carries message texts (so a longer text than measured grows it).
    pub fn carries_text(self) -> bool {
        matches!(self, Self::PollWithNews | Self::Direct | Self::Group | Self::Resume | Self::Inbox | Self::History)
    }

    /// Whether its answer goes out as the invocation's response; a resume's frames are counted
    /// per entry instead.
    pub fn answers_in_response(self) -> bool {
        self != Self::Resume
    }

    /// A poll's reads, which eventually consistent polls would halve.
    pub fn is_poll(self) -> bool {
        matches!(self, Self::EmptyPoll | Self::PollWithNews)
    }
}

/// The measured usage the tier's invocations draw on; sends with or without push.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub empty_poll: OperationUsage,
    pub poll_one: OperationUsage,
    pub direct: OperationUsage,
    /// A group send of the workload's group size, interpolated.
    pub group: OperationUsage,
    /// Sessions: an identity-token exchange of a returning user, a refresh, a logout.
    pub sign_in: OperationUsage,
    pub refresh: OperationUsage,
    pub logout: OperationUsage,
    /// Conversations: an inbox of three, a history page of 20, a read position.
    pub inbox: OperationUsage,
    pub history: OperationUsage,
    pub mark_read: OperationUsage,
    pub push: Option<PushUsage>,
}

/// The WebSocket API's events, measured.
#[derive(Clone, Copy, Debug)]
pub struct PushUsage {
    pub connect: OperationUsage,
    pub resume: OperationUsage,
    pub disconnect: OperationUsage,
    pub ping: OperationUsage,
    pub reauth: OperationUsage,
}

impl Measured {
    pub fn new(usage: &MeasuredUsage, workload: &Workload, deployment: &Deployment) -> Result<Self, Error> {
        let push = deployment.push;
        let get = |operation: Operation| usage.operation(operation).copied();
        Ok(Self {
            empty_poll: get(Operation::PollEmpty)?,
            poll_one: get(Operation::PollOne)?,
            direct: get(Operation::send(Recipients::Direct, push))?,
            group: group_send(usage, workload.group_size, push)?,
            sign_in: get(Operation::SessionExchange)?,
            refresh: get(Operation::SessionRefresh)?,
            logout: get(Operation::SessionLogout)?,
            inbox: get(Operation::Inbox)?,
            history: get(Operation::HistoryPage)?,
            mark_read: get(Operation::MarkRead)?,
            push: if push {
                Some(PushUsage {
                    connect: get(Operation::WsConnect)?,
                    resume: get(Operation::WsResume)?,
                    disconnect: get(Operation::WsDisconnect)?,
                    ping: get(Operation::WsPing)?,
                    reauth: get(Operation::WsReauth)?,
                })
            } else {
                None
            },
        })
    }
}

/// A group send of `size` members, interpolated linearly between the two measured sizes (exact
/// at each of them).
fn group_send(usage: &MeasuredUsage, size: f64, push: bool) -> Result<OperationUsage, Error> {
    let send = |group| usage.operation(Operation::send(Recipients::Group(group), push)).copied();
    let (small, large) = (send(MeasuredGroup::Small)?, send(MeasuredGroup::Large)?);
    let [low, high] = MEASURED_GROUP_SIZES.map(|members| members as f64);
    let t = (size - low) / (high - low);
    let mix = |a: f64, b: f64| a + (b - a) * t;
    Ok(OperationUsage {
        dynamodb_requests: mix(small.dynamodb_requests as f64, large.dynamodb_requests as f64).round() as u64,
        read_units: mix(small.read_units, large.read_units),
        write_units: mix(small.write_units, large.write_units),
        response_bytes: mix(small.response_bytes as f64, large.response_bytes as f64).round() as u64,
        lambda_cpu_ms: mix(small.lambda_cpu_ms, large.lambda_cpu_ms),
    })
}

/// One kind of invocation in a tier: how many, and what each costs.
#[derive(Clone, Copy, Debug)]
pub struct Invocations {
    pub kind: Invocation,
    pub count: f64,
    pub usage: OperationUsage,
    /// Round trips beyond DynamoDB's: posts to WebSocket connections.
    pub post_round_trips: f64,
}

/// The tier's invocations: polls and sends when polling; sends, the WebSocket events and pings
/// with push. A send posts to its recipients' connections [`CONCURRENT_POSTS`] at a time; a
/// resume posts its frames (several entries each) one after another, then `caught_up`.
pub fn mix(t: &Traffic, w: &Workload, m: &Measured, l: &mut Ledger) -> Vec<Invocations> {
    let one = |kind, count, usage, post_round_trips| Invocations { kind, count, usage, post_round_trips };
    let sessions = [
        one(Invocation::SignIn, t.sign_ins, m.sign_in, 0.0),
        one(Invocation::Refresh, t.refreshes, m.refresh, 0.0),
        one(Invocation::Logout, t.logouts, m.logout, 0.0),
        one(Invocation::Inbox, t.inbox_reads, m.inbox, 0.0),
        one(Invocation::History, t.history_pages, m.history, 0.0),
        one(Invocation::MarkRead, t.read_marks, m.mark_read, 0.0),
    ];
    let mut invocations = match &m.push {
        None => vec![
            one(Invocation::EmptyPoll, t.polls_empty, m.empty_poll, 0.0),
            one(Invocation::PollWithNews, t.polls_with_news, m.poll_one, 0.0),
            one(Invocation::Direct, t.directs, m.direct, 0.0),
            one(Invocation::Group, t.groups, m.group, 0.0),
        ],
        Some(push) => {
            let rounds = |recipients: f64| (recipients * t.online / CONCURRENT_POSTS as f64).ceil();
            vec![
                one(Invocation::Direct, t.directs, m.direct, rounds(2.0)),
                one(Invocation::Group, t.groups, m.group, rounds(w.group_size)),
                one(Invocation::Connect, t.connections, push.connect, 0.0),
                one(Invocation::Resume, t.connections, push.resume, t.frames_per_resume + 1.0),
                one(Invocation::Disconnect, t.connections, push.disconnect, 0.0),
                one(Invocation::Ping, t.pings, push.ping, 0.0),
                one(Invocation::Reauth, t.reauths, push.reauth, 1.0),
            ]
        }
    };
    invocations.extend(sessions);
    l.put(
        "function invocations",
        invocations.iter().map(|i| i.count).sum(),
        "invocations",
        if m.push.is_some() {
            format!(
                "{} requests + 3 × {} connections ($connect, resume, $disconnect) + {} pings + {} reauths",
                num(t.requests),
                num(t.connections),
                num(t.pings),
                num(t.reauths)
            )
        } else {
            format!("{} requests", num(t.requests))
        },
    );
    invocations
}

/// Their total count.
pub fn total(invocations: &[Invocations]) -> f64 {
    invocations.iter().map(|i| i.count).sum()
}
