//! The command line of the cost report: its input files, the switches, and one flag per key of
//! `config/workload.toml`.

use std::path::PathBuf;

use crate::error::Error;
use crate::inputs::Workload;

#[derive(Clone, Debug, clap::Args)]
pub struct CostArgs {
    /// List prices.
    #[arg(long, default_value = "config/pricing.toml")]
    pub pricing: PathBuf,
    /// The workload.
    #[arg(long, default_value = "config/workload.toml")]
    pub workload: PathBuf,
    /// Per-operation usage, measured by `cargo xtask measure-usage`.
    #[arg(long, default_value = "config/usage.toml")]
    pub usage: PathBuf,
    /// Subtract AWS's free tier (off by default: part of it lasts only 12 months).
    #[arg(long)]
    pub free_tier: bool,
    /// Every figure of the tier with this many users, with its formula and inputs.
    #[arg(long)]
    pub explain: Option<u64>,
    /// Price push over the WebSocket API as the deployment (what `--explain` shows, and what the
    /// alternatives are compared with) instead of polling.
    #[arg(long)]
    pub push: bool,
    /// Also draw the monthly cost by component against users into this SVG file.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    #[command(flatten)]
    pub workload_flags: WorkloadFlags,
}

/// One flag per key of `config/workload.toml`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct WorkloadFlags {
    /// User tiers, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub users: Option<Vec<u64>>,
    /// Polls each user makes a minute while polling (not with push).
    #[arg(long)]
    pub polls_per_user_per_minute: Option<f64>,
    /// Messages each user sends a day.
    #[arg(long)]
    pub messages_per_user_per_day: Option<f64>,
    /// Share of messages sent to groups, 0 to 1 (the rest are direct).
    #[arg(long)]
    pub group_share: Option<f64>,
    /// Members of the groups messages go to (interpolated between the measured 10 and 50).
    #[arg(long)]
    pub group_size: Option<f64>,
    /// Average text length in bytes (the measured usage is adjusted to it).
    #[arg(long)]
    pub text_bytes: Option<f64>,
    /// Days feed entries are stored (for DynamoDB storage).
    #[arg(long)]
    pub retention_days: Option<f64>,
    /// Log bytes each invocation writes under the deployed logging configuration.
    #[arg(long)]
    pub log_bytes_per_request: Option<f64>,
    /// Log bytes each invocation writes under Lambda's default logging.
    #[arg(long)]
    pub default_log_bytes_per_request: Option<f64>,
    /// Milliseconds the function waits for each DynamoDB request (billed duration).
    #[arg(long)]
    pub dynamodb_round_trip_ms: Option<f64>,
    /// Header bytes of each response (data transfer out).
    #[arg(long)]
    pub response_header_bytes: Option<f64>,
    /// Peak traffic over the average, for the quota warnings.
    #[arg(long)]
    pub peak_factor: Option<f64>,
    /// Compressed size of the function's image in ECR.
    #[arg(long)]
    pub image_bytes: Option<f64>,
    /// Images the repository keeps (its lifecycle policy).
    #[arg(long)]
    pub images_kept: Option<f64>,
    /// With push: share of users connected at any moment, 0 to 1.
    #[arg(long)]
    pub online_share: Option<f64>,
    /// With push: WebSocket connections each user opens a day.
    #[arg(long)]
    pub connections_per_user_per_day: Option<f64>,
    /// With push: minutes between a client's keep-alive pings (under API Gateway's 10-minute idle timeout).
    #[arg(long)]
    pub keepalive_minutes: Option<f64>,
    /// Sign-ins with an identity token each user makes a month.
    #[arg(long)]
    pub sign_ins_per_user_per_month: Option<f64>,
    /// Logouts each user makes a month.
    #[arg(long)]
    pub logouts_per_user_per_month: Option<f64>,
    /// Inbox reads (`GET /v1/conversations`) each user makes a day.
    #[arg(long)]
    pub inbox_reads_per_user_per_day: Option<f64>,
    /// History pages (`GET /v1/conversations/{id}/messages`) each user reads a day.
    #[arg(long)]
    pub history_pages_per_user_per_day: Option<f64>,
    /// Read positions (`PUT /v1/conversations/{id}/read`) each user sets a day.
    #[arg(long)]
    pub read_marks_per_user_per_day: Option<f64>,
    /// The deployment's access-token lifetime: an active client refreshes (and, with push,
    /// reauthenticates its connection) once per lifetime.
    #[arg(long)]
    pub access_token_ttl_secs: Option<f64>,
    /// Hours a Lambda execution environment lives; each new one reads the key secret once.
    #[arg(long)]
    pub environment_lifetime_hours: Option<f64>,
}

impl WorkloadFlags {
    pub fn apply(&self, mut w: Workload) -> Result<Workload, Error> {
        let f = self.clone();
        macro_rules! take { ($($key:ident),*) => { $( if let Some(v) = f.$key { w.$key = v; } )* }; }
        take!(
            users,
            polls_per_user_per_minute,
            messages_per_user_per_day,
            group_share,
            group_size,
            text_bytes,
            retention_days,
            log_bytes_per_request,
            default_log_bytes_per_request,
            dynamodb_round_trip_ms,
            response_header_bytes,
            peak_factor,
            image_bytes,
            images_kept,
            online_share,
            connections_per_user_per_day,
            keepalive_minutes,
            sign_ins_per_user_per_month,
            logouts_per_user_per_month,
            inbox_reads_per_user_per_day,
            history_pages_per_user_per_day,
            read_marks_per_user_per_day,
            access_token_ttl_secs,
            environment_lifetime_hours
        );
        let bad = |key: &str, why: &str| Err(Error::Input(format!("workload: {key} {why}")));
        if w.users.is_empty() || w.users.contains(&0) {
            return bad("users", "must list tiers of at least one user");
        }
        if !(0.0..=1.0).contains(&w.group_share) {
            return bad("group_share", "must be from 0 to 1");
        }
        if !(0.0..=1.0).contains(&w.online_share) {
            return bad("online_share", "must be from 0 to 1");
        }
        if !(w.keepalive_minutes > 0.0 && w.keepalive_minutes < 10.0) {
            return bad("keepalive_minutes", "must be above 0 and under API Gateway's 10-minute idle timeout");
        }
        if !(w.access_token_ttl_secs > 0.0 && w.environment_lifetime_hours > 0.0) {
            return bad("access_token_ttl_secs and environment_lifetime_hours", "must be above 0");
        }
        if w.group_size < 2.0 {
            return bad("group_size", "must be at least 2");
        }
        let numbers = [
            w.polls_per_user_per_minute,
            w.messages_per_user_per_day,
            w.text_bytes,
            w.retention_days,
            w.peak_factor,
            w.connections_per_user_per_day,
            w.sign_ins_per_user_per_month,
            w.logouts_per_user_per_month,
            w.inbox_reads_per_user_per_day,
            w.history_pages_per_user_per_day,
            w.read_marks_per_user_per_day,
        ];
        if numbers.iter().any(|n| !n.is_finite() || *n < 0.0) {
            return bad("rates and sizes", "must be numbers of 0 or more");
        }
        Ok(w)
    }
}
