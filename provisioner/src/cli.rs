//! The command line: `provisioner <deploy|status|destroy> [options]`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::{DEFAULT_PATH, SettingFlags};
use crate::stack::StackName;

/// Creates, updates, reports and destroys the messaging backend on AWS: an ECR repository and
/// image, an IAM role, two DynamoDB tables, a log group, a Lambda function, an HTTP API and a
/// WebSocket API.
#[derive(Debug, Parser)]
#[command(name = "provisioner", version)]
pub struct Cli {
    #[command(flatten)]
    pub aws: AwsOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Clone, Debug, Args)]
pub struct AwsOptions {
    /// Stack name: every resource name starts with it [default: `stack` in the config file].
    #[arg(long, global = true)]
    pub stack: Option<StackName>,
    /// AWS region [default: AWS_REGION or the profile's region].
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named profile from ~/.aws/config and ~/.aws/credentials.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// One endpoint for every AWS service, e.g. an emulator on http://127.0.0.1:5000.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Text for people, JSON (or, for cost-report, CSV) for scripts, on stdout; progress goes to
    /// stderr.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Deployment settings file.
    #[arg(long, global = true, default_value = DEFAULT_PATH)]
    pub config: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Stack(StackCommand),
    /// Prints the deployed stack's server key, for the app's backend (the server API).
    ServerKey,
    /// The deployed stack's key ring.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Drives the deployed stack (or a server at --url) end to end as two clients would, prints
    /// each step with its latency, and exits 1 on any failure. Removes the users it made.
    Smoke(SmokeArgs),
    /// The monthly AWS bill for 1K to 10M users, by component, with the alternatives that save
    /// the most; needs no AWS access.
    CostReport(Box<cost::CostArgs>),
}

#[derive(Clone, Copy, Debug, Subcommand)]
pub enum KeysCommand {
    /// Adds a signing key to the ring in the stack's secret and restarts the function on it: the
    /// new key signs, the older ones verify until their tokens have expired. Nobody is logged
    /// out, and cursors stay valid.
    Rotate,
    /// Sets the shared secret of the app's own HS256 identity tokens (at least 32 bytes) in the
    /// stack's secret, read from standard input — never from the command line, which the shell's
    /// history and the process list show — and restarts the function on it. `--clear` removes it.
    Hs256Secret {
        #[arg(long)]
        clear: bool,
    },
}

/// The commands that act on a deployed stack.
#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Creates or updates every resource in dependency order; unchanged ones are left alone.
    Deploy(Box<DeployArgs>),
    /// Shows each resource as present, missing or drifted from the settings, and the endpoint.
    /// Exits 1 when something is missing.
    Status,
    /// Deletes every resource of the stack in reverse order, from any partial state.
    Destroy(DestroyArgs),
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The runtime binary to ship as the image's entrypoint (`cargo xtask deploy` builds it).
    #[arg(long)]
    pub binary: PathBuf,
    /// The CA certificate bundle to ship for TLS to AWS [default: the system's bundle].
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,
    /// Print what would be created, updated or left unchanged, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// After deploying, run `smoke` against the stack.
    #[arg(long, conflicts_with = "dry_run")]
    pub smoke: bool,
    #[command(flatten)]
    pub settings: SettingFlags,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Keep the two tables and their data.
    #[arg(long)]
    pub keep_data: bool,
}

#[derive(Clone, Debug, Args)]
pub struct SmokeArgs {
    /// The HTTP API to test instead of the stack's, e.g. a local server on http://127.0.0.1:8080
    /// (its stream at <url>/v1/stream). The server key, if any, comes from MESSAGING_SERVER_KEY —
    /// never the command line; without one the users register openly and stay.
    #[arg(long)]
    pub url: Option<String>,
    /// How long to wait for each answer and each push, in seconds.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
}
