//! The cost model's one error type: what the operator must fix, by kind.

use contract::usage::MissingOperation;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pricing, workload or usage file or flag that cannot be used.
    #[error("configuration: {0}")]
    Input(String),
    /// The usage file lacks an operation the model prices (measure it again).
    #[error("configuration: {0}")]
    Usage(#[from] MissingOperation),
    /// The chart could not be drawn or written.
    #[error("chart: {0}")]
    Chart(String),
}
