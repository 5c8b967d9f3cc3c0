//! The messaging runtime: one axum [`Router`](axum::Router) over a [`Store`](store::Store).
//!
//! `api` turns HTTP into calls on `domain` types and `store` operations; `domain` holds the rules
//! and the parsed types; `store` holds the storage trait and its backends. `config`, `server` and
//! `lambda` put them together for the binary: `axum::serve` locally, `lambda_http::run` on Lambda.

pub mod api;
pub mod config;
pub mod domain;
pub mod lambda;
pub mod push;
pub mod server;
pub mod store;

pub use api::{AppState, Limits, StreamLimits, app};
