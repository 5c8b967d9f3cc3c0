//! Test helpers shared by every crate's tests, the provisioner's included, so none of it depends
//! on the runtime:
//!
//! * [`emulators`]: where `cargo xtask test` started the emulators, and what a test does without one;
//! * [`proxy`]: one loopback proxy in front of an emulator, recording every request, with a
//!   [`Hook`](proxy::Hook) that may answer instead (the DynamoDB chaos layer is one);
//! * [`lambda_events`]: API Gateway events sent to a function through the Lambda Runtime API emulator.

pub mod emulators;
pub mod lambda_events;
pub mod proxy;
