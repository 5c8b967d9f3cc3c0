//! What the runtime promises to whoever deploys, measures or prices it — and nothing else.
//!
//! Every name and format here is read or written by more than one crate: the runtime reads the
//! environment the provisioner writes, the provisioner creates the tables and grants the actions
//! the runtime's store uses, `measure-usage` writes the usage file the cost model reads. Defining
//! each once here turns a rename into a compile error in every crate that uses it, instead of a
//! deployed function that cannot find its settings.
//!
//! No I/O and no AWS SDK: the provisioner and the cost model depend on this crate, not on the
//! runtime.

pub mod deploy;
pub mod edge;
pub mod env;
pub mod iam;
pub mod key_ring;
pub mod limits;
pub mod tables;
pub mod token_key;
pub mod usage;
