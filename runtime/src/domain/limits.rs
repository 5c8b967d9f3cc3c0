//! Limits every instance shares: per-minute counts, kept by the store, of what costs the
//! operator money — so that a client sending through many Lambda instances at once meets the
//! same limit as one that sends through one.
//!
//! # Windows
//! A rule counts in fixed windows of one minute aligned to the clock (`unix seconds / 60`). A
//! request is allowed when the window's count plus what it costs stays within the rule's limit,
//! and only then counted. So in any one window at most `limit` is allowed; two windows side by
//! side may allow up to `2 × limit` within a minute that straddles their edge. A refusal says
//! how long until the window ends (`Retry-After`).
//!
//! `connections_per_user` is not a rate but a count of what is open at once, and is checked
//! against the user's open connections instead (see the stores).

use serde::Deserialize;

use super::session::UnixSecs;

/// The length of a window, in seconds.
pub const WINDOW_SECS: u64 = 60;

/// Its discriminant indexes [`Rule::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// Registrations, identity-token exchanges and refreshes from one source address.
    UnauthenticatedPerIp,
    /// Messages a user sends.
    SendsPerUser,
    /// Feed entries a user's sends write: two for a direct message (one for a note to self), the
    /// member count for a group message.
    FanoutPerUser,
    /// Groups a user creates, and members they add or remove.
    MembershipChangesPerUser,
    /// Streams and WebSocket connections a user opens.
    ConnectsPerUser,
    /// Messages a user's WebSocket connections send (`resume`, `reauth`, `ping`, anything else).
    SocketMessagesPerUser,
    /// Streams and WebSocket connections a user has open at once.
    ConnectionsPerUser,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Self::UnauthenticatedPerIp,
        Self::SendsPerUser,
        Self::FanoutPerUser,
        Self::MembershipChangesPerUser,
        Self::ConnectsPerUser,
        Self::SocketMessagesPerUser,
        Self::ConnectionsPerUser,
    ];

    /// Its setting under `[limits]`.
    pub fn name(self) -> &'static str {
        match self {
            Self::UnauthenticatedPerIp => "unauthenticated_per_ip",
            Self::SendsPerUser => "sends_per_user",
            Self::FanoutPerUser => "fanout_per_user",
            Self::MembershipChangesPerUser => "membership_changes_per_user",
            Self::ConnectsPerUser => "connects_per_user",
            Self::SocketMessagesPerUser => "socket_messages_per_user",
            Self::ConnectionsPerUser => "connections_per_user",
        }
    }
}

impl Rule {
    /// Its environment variable, `MESSAGING_LIMITS_<RULE>`.
    pub fn variable(self) -> &'static str {
        use contract::env::var;
        match self {
            Self::UnauthenticatedPerIp => var::LIMITS_UNAUTHENTICATED_PER_IP,
            Self::SendsPerUser => var::LIMITS_SENDS_PER_USER,
            Self::FanoutPerUser => var::LIMITS_FANOUT_PER_USER,
            Self::MembershipChangesPerUser => var::LIMITS_MEMBERSHIP_CHANGES_PER_USER,
            Self::ConnectsPerUser => var::LIMITS_CONNECTS_PER_USER,
            Self::SocketMessagesPerUser => var::LIMITS_SOCKET_MESSAGES_PER_USER,
            Self::ConnectionsPerUser => var::LIMITS_CONNECTIONS_PER_USER,
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Each rule's limit (`[limits]` in the settings); 0 turns a rule off.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleLimits {
    pub unauthenticated_per_ip: u32,
    pub sends_per_user: u32,
    pub fanout_per_user: u32,
    pub membership_changes_per_user: u32,
    pub connects_per_user: u32,
    pub socket_messages_per_user: u32,
    pub connections_per_user: u32,
}

impl RuleLimits {
    /// Every rule off.
    pub const OFF: Self = Self {
        unauthenticated_per_ip: 0,
        sends_per_user: 0,
        fanout_per_user: 0,
        membership_changes_per_user: 0,
        connects_per_user: 0,
        socket_messages_per_user: 0,
        connections_per_user: 0,
    };

    /// The rule's limit; `None` when it is off.
    pub fn of(&self, rule: Rule) -> Option<u32> {
        let limit = match rule {
            Rule::UnauthenticatedPerIp => self.unauthenticated_per_ip,
            Rule::SendsPerUser => self.sends_per_user,
            Rule::FanoutPerUser => self.fanout_per_user,
            Rule::MembershipChangesPerUser => self.membership_changes_per_user,
            Rule::ConnectsPerUser => self.connects_per_user,
            Rule::SocketMessagesPerUser => self.socket_messages_per_user,
            Rule::ConnectionsPerUser => self.connections_per_user,
        };
        (limit > 0).then_some(limit)
    }

    pub fn set(&mut self, rule: Rule, limit: u32) {
        let field = match rule {
            Rule::UnauthenticatedPerIp => &mut self.unauthenticated_per_ip,
            Rule::SendsPerUser => &mut self.sends_per_user,
            Rule::FanoutPerUser => &mut self.fanout_per_user,
            Rule::MembershipChangesPerUser => &mut self.membership_changes_per_user,
            Rule::ConnectsPerUser => &mut self.connects_per_user,
            Rule::SocketMessagesPerUser => &mut self.socket_messages_per_user,
            Rule::ConnectionsPerUser => &mut self.connections_per_user,
        };
        *field = limit;
    }
}

/// One minute's window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window(pub u64);

impl Window {
    pub fn at(now: UnixSecs) -> Self {
        Self(now / WINDOW_SECS)
    }

    /// The second after its last.
    pub fn end(self) -> UnixSecs {
        (self.0 + 1) * WINDOW_SECS
    }

    /// Seconds from `now` until the window ends (at least 1): when a refused request may succeed.
    pub fn retry_after(self, now: UnixSecs) -> u64 {
        self.end().saturating_sub(now).max(1)
    }
}

/// Whether `amount` more fits a window that has counted `counted` under `limit`.
pub fn fits(counted: u64, amount: u32, limit: u32) -> bool {
    counted + u64::from(amount) <= u64::from(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_clock_minutes_and_say_when_they_end() {
        assert_eq!(Window::at(119), Window(1));
        assert_eq!(Window::at(120), Window(2));
        assert_eq!(Window::at(61).retry_after(61), 59);
        assert_eq!(Window::at(119).retry_after(119), 1);
        assert!(fits(9, 1, 10));
        assert!(!fits(10, 1, 10));
        assert!(!fits(0, 11, 10));
    }

    #[test]
    fn zero_turns_a_rule_off_and_every_rule_has_its_field() {
        let mut limits = RuleLimits::OFF;
        for (i, rule) in Rule::ALL.into_iter().enumerate() {
            assert_eq!(rule as usize, i, "ALL is in declaration order");
            assert_eq!(limits.of(rule), None);
            limits.set(rule, i as u32 + 1);
        }
        for (i, rule) in Rule::ALL.into_iter().enumerate() {
            assert_eq!(limits.of(rule), Some(i as u32 + 1), "{rule}");
            assert_eq!(rule.variable(), format!("MESSAGING_LIMITS_{}", rule.name().to_uppercase()));
        }
    }
}
