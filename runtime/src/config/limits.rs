//! `[limits]` on the command line and in the environment: one flag and one variable per rule.

use clap::Args;
use contract::env::var;

use crate::domain::{Rule, RuleLimits};

/// `[limits]`: each rule's per-minute limit (0: off), see [`crate::domain::limits`].
#[derive(Args, Debug, Default)]
pub struct LimitArgs {
    /// Registrations, identity-token exchanges and refreshes per source address per minute.
    #[arg(long, env = var::LIMITS_UNAUTHENTICATED_PER_IP)]
    pub limits_unauthenticated_per_ip: Option<u32>,
    /// Messages a user sends per minute.
    #[arg(long, env = var::LIMITS_SENDS_PER_USER)]
    pub limits_sends_per_user: Option<u32>,
    /// Feed entries a user's sends write per minute (a group send: its member count).
    #[arg(long, env = var::LIMITS_FANOUT_PER_USER)]
    pub limits_fanout_per_user: Option<u32>,
    /// Groups created and members added or removed by a user per minute.
    #[arg(long, env = var::LIMITS_MEMBERSHIP_CHANGES_PER_USER)]
    pub limits_membership_changes_per_user: Option<u32>,
    /// Streams and WebSocket connections a user opens per minute.
    #[arg(long, env = var::LIMITS_CONNECTS_PER_USER)]
    pub limits_connects_per_user: Option<u32>,
    /// Messages a user's WebSocket connections send per minute.
    #[arg(long, env = var::LIMITS_SOCKET_MESSAGES_PER_USER)]
    pub limits_socket_messages_per_user: Option<u32>,
    /// Streams and WebSocket connections a user has open at once.
    #[arg(long, env = var::LIMITS_CONNECTIONS_PER_USER)]
    pub limits_connections_per_user: Option<u32>,
}

impl LimitArgs {
    pub(super) fn overlay(self, limits: &mut RuleLimits) {
        let given = [
            (Rule::UnauthenticatedPerIp, self.limits_unauthenticated_per_ip),
            (Rule::SendsPerUser, self.limits_sends_per_user),
            (Rule::FanoutPerUser, self.limits_fanout_per_user),
            (Rule::MembershipChangesPerUser, self.limits_membership_changes_per_user),
            (Rule::ConnectsPerUser, self.limits_connects_per_user),
            (Rule::SocketMessagesPerUser, self.limits_socket_messages_per_user),
            (Rule::ConnectionsPerUser, self.limits_connections_per_user),
        ];
        for (rule, limit) in given {
            if let Some(limit) = limit {
                limits.set(rule, limit);
            }
        }
    }
}
