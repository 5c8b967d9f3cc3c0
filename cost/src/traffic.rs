//! What one tier does in a month — polls, sends, feed entries, sessions, connections, pings —
//! derived from the workload alone, before any price.

use contract::limits::{WEBSOCKET_CONNECTION_LIMIT, WEBSOCKET_FRAME_BYTES};

use crate::format::num;
use crate::inputs::{Pricing, Workload};
use crate::ledger::Ledger;
use crate::model::{DAYS_PER_MONTH, Deployment, MINUTES_PER_MONTH, SECONDS_PER_MONTH};

/// A tier's monthly traffic; every figure is also in the ledger with its formula.
#[derive(Clone, Debug)]
pub struct Traffic {
    pub users: f64,
    pub polls: f64,
    pub directs: f64,
    pub groups: f64,
    pub entries: f64,
    pub polls_with_news: f64,
    pub polls_empty: f64,
    /// Sign-ins with an identity token, refreshes and logouts.
    pub sign_ins: f64,
    pub refreshes: f64,
    pub logouts: f64,
    /// Inbox reads, history pages and read positions set.
    pub inbox_reads: f64,
    pub history_pages: f64,
    pub read_marks: f64,
    /// Requests through the HTTP API: polls, sends, sessions and conversations.
    pub requests: f64,
    pub requests_per_second: f64,
    pub peak_requests_per_second: f64,
    /// The share of users connected at any moment (0 when polling).
    pub online: f64,
    pub connection_minutes: f64,
    pub connections: f64,
    pub pings: f64,
    /// Reauths of open connections (one after each refresh of a push client).
    pub reauths: f64,
    /// Frames one resume posts its entries in (several entries to a 32 KB frame).
    pub frames_per_resume: f64,
    pub websocket_messages: f64,
}

/// Connections a user online all day needs at least: API Gateway ends each after two hours.
fn reconnects_per_day() -> f64 {
    86_400.0 / WEBSOCKET_CONNECTION_LIMIT.as_secs_f64()
}

impl Traffic {
    /// `entry_frame_bytes`: what one entry adds to a resume's frame, at most (the measured
    /// resume of one entry).
    pub fn derive(
        users: u64,
        workload: &Workload,
        pricing: &Pricing,
        deployment: &Deployment,
        entry_frame_bytes: f64,
        ledger: &mut Ledger,
    ) -> Self {
        let mut traffic = Self::requests(users as f64, workload, deployment, ledger);
        traffic.add_connections(workload, deployment.push, ledger);
        traffic.add_frames(pricing, entry_frame_bytes, ledger);
        traffic
    }

    fn requests(u: f64, w: &Workload, deployment: &Deployment, l: &mut Ledger) -> Self {
        let polls = if deployment.push {
            l.put(
                "polls",
                0.0,
                "requests",
                "push: clients do not poll; each new connection resumes from its cursor".into(),
            )
        } else {
            l.put(
                "polls",
                u * w.polls_per_user_per_minute * MINUTES_PER_MONTH,
                "requests",
                format!(
                    "{} users × {} polls/min × {} min (730 h)",
                    num(u),
                    num(w.polls_per_user_per_minute),
                    num(MINUTES_PER_MONTH)
                ),
            )
        };
        let sent = u * w.messages_per_user_per_day * DAYS_PER_MONTH;
        let share = |part: &str| {
            format!(
                "{} users × {} messages/day × {} days × {part}",
                num(u),
                num(w.messages_per_user_per_day),
                num(DAYS_PER_MONTH)
            )
        };
        let directs = l.put(
            "direct messages",
            sent * (1.0 - w.group_share),
            "requests",
            share(&format!("(1 − {} group share)", num(w.group_share))),
        );
        let groups = l.put(
            "group messages",
            sent * w.group_share,
            "requests",
            share(&format!("{} group share", num(w.group_share))),
        );
        let entries = l.put(
            "feed entries delivered",
            directs * 2.0 + groups * w.group_size,
            "entries",
            format!("{} direct × 2 feeds + {} group × {} members", num(directs), num(groups), num(w.group_size)),
        );
        let polls_with_news = l.put(
            "polls that find messages",
            polls.min(entries),
            "requests",
            format!("min({} polls, {} entries)", num(polls), num(entries)),
        );
        let polls_empty = l.put(
            "empty polls",
            polls - polls_with_news,
            "requests",
            format!("{} − {}", num(polls), num(polls_with_news)),
        );
        let sessions = Sessions::derive(u, w, deployment, l);
        let mut per_day = |name: &'static str, rate: f64| {
            l.put(
                name,
                u * rate * DAYS_PER_MONTH,
                "requests",
                format!("{} users × {} a day × {} days", num(u), num(rate), num(DAYS_PER_MONTH)),
            )
        };
        let inbox_reads = per_day("inbox reads", w.inbox_reads_per_user_per_day);
        let history_pages = per_day("history pages", w.history_pages_per_user_per_day);
        let read_marks = per_day("read positions set", w.read_marks_per_user_per_day);
        let conversations = inbox_reads + history_pages + read_marks;
        let requests = l.put(
            "requests",
            polls + directs + groups + sessions.total() + conversations,
            "requests",
            format!(
                "{} + {} + {} + {} session + {} conversation requests",
                num(polls),
                num(directs),
                num(groups),
                num(sessions.total()),
                num(conversations)
            ),
        );
        let rps = l.put(
            "requests per second",
            requests / SECONDS_PER_MONTH,
            "req/s",
            format!("{} / {} s", num(requests), num(SECONDS_PER_MONTH)),
        );
        let peak = l.put(
            "peak requests per second",
            rps * w.peak_factor,
            "req/s",
            format!("{} × {} peak factor", num(rps), num(w.peak_factor)),
        );
        Self {
            users: u,
            polls,
            directs,
            groups,
            entries,
            polls_with_news,
            polls_empty,
            sign_ins: sessions.sign_ins,
            refreshes: sessions.refreshes,
            logouts: sessions.logouts,
            inbox_reads,
            history_pages,
            read_marks,
            requests,
            requests_per_second: rps,
            peak_requests_per_second: peak,
            online: 0.0,
            connection_minutes: 0.0,
            connections: 0.0,
            pings: 0.0,
            reauths: 0.0,
            frames_per_resume: 0.0,
            websocket_messages: 0.0,
        }
    }

    /// Push: connections, their pings and reauths (all 0 when polling).
    fn add_connections(&mut self, w: &Workload, push: bool, l: &mut Ledger) {
        let (u, online) = (self.users, if push { w.online_share } else { 0.0 });
        self.online = online;
        self.connection_minutes = l.put(
            "connection minutes",
            u * online * MINUTES_PER_MONTH,
            "minutes",
            format!("{} users × {} online × {} min", num(u), num(online), num(MINUTES_PER_MONTH)),
        );
        let forced = reconnects_per_day();
        self.connections = l.put(
            "connections",
            if push { u * w.connections_per_user_per_day.max(online * forced) * DAYS_PER_MONTH } else { 0.0 },
            "connections",
            format!(
                "{} users × max({} per day, {} online × {}: one per {} h online) × {} days",
                num(u),
                num(w.connections_per_user_per_day),
                num(online),
                num(forced),
                num(WEBSOCKET_CONNECTION_LIMIT.as_secs_f64() / 3600.0),
                num(DAYS_PER_MONTH)
            ),
        );
        self.pings = l.put(
            "keep-alive pings",
            self.connection_minutes / w.keepalive_minutes,
            "messages",
            format!(
                "{} connection minutes / {} min (an upper bound: any message resets the idle timer)",
                num(self.connection_minutes),
                num(w.keepalive_minutes)
            ),
        );
        self.reauths = l.put(
            "reauths",
            if push { self.refreshes } else { 0.0 },
            "messages",
            "a connected client reauthenticates its connection after each refresh (an upper bound: a \
             connection shorter than a token's lifetime may need none)"
                .into(),
        );
    }

    /// The frames posted and the WebSocket messages metered: an online user's entries pushed one
    /// to a frame as they are sent, an offline user's sent by the resume of their next connection,
    /// packed several to a 32 KB frame.
    fn add_frames(&mut self, p: &Pricing, entry_frame_bytes: f64, l: &mut Ledger) {
        if self.connections == 0.0 {
            self.websocket_messages = l.put("WebSocket messages", 0.0, "messages", "no push".into());
            return;
        }
        let per_resume = self.entries * (1.0 - self.online) / self.connections;
        self.frames_per_resume = l.put(
            "frames per resume",
            (per_resume * entry_frame_bytes / WEBSOCKET_FRAME_BYTES as f64).ceil(),
            "frames",
            format!(
                "⌈{} entries resumed per connection × {} B / {} B frame⌉ (an upper bound: the measured resume of one \
                 entry, its caught_up included)",
                num(per_resume),
                num(entry_frame_bytes),
                WEBSOCKET_FRAME_BYTES
            ),
        );
        let posts = l.put(
            "frames posted",
            self.entries * self.online + self.connections * (self.frames_per_resume + 1.0) + self.reauths,
            "messages",
            format!(
                "{} entries pushed live ({} online) + {} connections × ({} resume frames + caught_up) + {} reauthed",
                num(self.entries * self.online),
                num(self.online),
                num(self.connections),
                num(self.frames_per_resume),
                num(self.reauths)
            ),
        );
        self.websocket_messages = l.put(
            "WebSocket messages",
            posts + self.connections + self.pings + self.reauths,
            "messages",
            format!(
                "{} frames + {} resumes + {} pings + {} reauths received (each under {} KB: one metered message)",
                num(posts),
                num(self.connections),
                num(self.pings),
                num(self.reauths),
                num(p.api_gateway_websocket.metered_kb)
            ),
        );
    }
}

/// The session requests of a month.
struct Sessions {
    sign_ins: f64,
    refreshes: f64,
    logouts: f64,
}

impl Sessions {
    fn derive(u: f64, w: &Workload, deployment: &Deployment, l: &mut Ledger) -> Self {
        let sign_ins = l.put(
            "sign-ins",
            u * w.sign_ins_per_user_per_month,
            "requests",
            format!("{} users × {} identity-token exchanges a month", num(u), num(w.sign_ins_per_user_per_month)),
        );
        let logouts = l.put(
            "logouts",
            u * w.logouts_per_user_per_month,
            "requests",
            format!("{} users × {} a month", num(u), num(w.logouts_per_user_per_month)),
        );
        // Polling clients are active all month; push clients while online.
        let active = if deployment.push { w.online_share } else { 1.0 };
        let refreshes = l.put(
            "refreshes",
            u * active * SECONDS_PER_MONTH / w.access_token_ttl_secs,
            "requests",
            format!(
                "{} users × {} active × {} s / {} s access-token lifetime",
                num(u),
                num(active),
                num(SECONDS_PER_MONTH),
                num(w.access_token_ttl_secs)
            ),
        );
        Self { sign_ins, refreshes, logouts }
    }

    fn total(&self) -> f64 {
        self.sign_ins + self.refreshes + self.logouts
    }
}
