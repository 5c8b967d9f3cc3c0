//! The messaging runtime: one axum [`Router`](axum::Router) over a [`Store`](store::Store).
//!
//! `api` turns HTTP into calls on `domain` types and `store` operations; `domain` holds the rules
//! and the parsed types; `identity` verifies the app's identity provider's tokens; `store` holds the storage traits and their backends; `protocol` is the
//! feed on the wire, shared by the local stream and `push` (AWS's WebSocket API). `config` reads
//! the settings, `wiring` builds the state from them once, and `server` and `lambda` serve it:
//! `axum::serve` locally, `lambda_http::run` on Lambda, where `deadline` cuts every budget to the
//! invocation's.

pub mod api;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod identity;
pub mod lambda;
pub mod protocol;
pub mod push;
pub mod server;
pub mod store;
pub mod wiring;

pub use api::{AppState, Limits, SessionPolicy, StreamLimits, app};
