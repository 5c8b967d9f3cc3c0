//! Sign-outs as they happen in this process, so its open streams of a signed-out session close
//! at once instead of when their access token expires (and, on AWS, that session's connections).
//! Local streams exist only on the embedded store, which one process serves, so every sign-out
//! that concerns them passes through here.

use tokio::sync::broadcast;

use super::AppState;
use crate::domain::{AccessClaims, SessionId, UserId};

/// Sign-outs a slow stream may miss before it is closed anyway (it then reconnects).
const BACKLOG: usize = 1024;

#[derive(Clone, Debug)]
pub struct SignedOut {
    pub user: UserId,
    /// `None`: every session of the user.
    pub session: Option<SessionId>,
}

impl SignedOut {
    /// Whether this sign-out ends a stream authenticated by `claims`.
    pub fn ends(&self, claims: &AccessClaims) -> bool {
        self.user == claims.user && self.session.as_ref().is_none_or(|session| *session == claims.session)
    }
}

pub struct Signouts(broadcast::Sender<SignedOut>);

impl Default for Signouts {
    fn default() -> Self {
        Self(broadcast::channel(BACKLOG).0)
    }
}

impl Signouts {
    pub fn publish(&self, signed_out: SignedOut) {
        // No stream open: nobody to tell.
        let _ = self.0.send(signed_out);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SignedOut> {
        self.0.subscribe()
    }
}

/// Ends what a sign-out ends: this process's streams of it, and on AWS its WebSocket
/// connections (`DeleteConnection`).
pub async fn announce(state: &AppState, signed_out: SignedOut) {
    if let Some(delivery) = &state.delivery {
        delivery.sign_out(&signed_out.user, signed_out.session.as_ref()).await;
    }
    state.signouts.publish(signed_out);
}
