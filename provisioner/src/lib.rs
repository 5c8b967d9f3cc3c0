//! The provisioner: deploys the messaging backend to AWS (ECR image, IAM role and its permissions boundary, DynamoDB tables,
//! key ring secret, log group, Lambda function, HTTP API, WebSocket API), reports on it and destroys it, with the AWS SDK.
//!
//! One module per AWS resource; most implement `resource::Resource` (observe, drift as typed
//! changes, create, apply, delete), which one state machine (`resource::reconcile`) drives for
//! every command; `plan::ORDER` is the dependency order that [`deploy`], [`status`] and
//! [`destroy`] walk.

pub mod apigateway;
pub mod aws;
pub mod boundary;
pub mod cli;
pub mod context;
pub mod deploy;
pub mod destroy;
pub mod error;
pub mod function;
pub mod http_api;
pub mod image;
pub mod keys;
pub mod log_group;
mod plan;
pub mod report;
pub mod repository;
mod resource;
pub mod role;
pub mod secret;
pub mod settings;
pub mod smoke;
pub mod stack;
pub mod status;
pub mod tables;
pub mod websocket_api;

pub use error::Error;

use crate::aws::Aws;
use crate::cli::{AwsOptions, StackCommand};
use crate::context::Context;
use crate::report::{Outcome, Report};
use crate::settings::{SettingFlags, load_settings};
use crate::stack::{Names, StackName};
use contract::key_ring::Hs256Secret;

/// The stack `--stack` names, or else the settings' `stack`.
fn stack_name(options: &AwsOptions, settings: &crate::settings::DeploySettings) -> Result<StackName, Error> {
    match &options.stack {
        Some(stack) => Ok(stack.clone()),
        None => settings.stack.parse::<StackName>().map_err(|e| Error::Config(e.to_string())),
    }
}

/// Runs one stack command; the report says what happened to each resource.
pub async fn run(options: &AwsOptions, command: &StackCommand) -> Result<Report, Error> {
    let flags = match command {
        StackCommand::Deploy(args) => args.settings.clone(),
        _ => SettingFlags::default(),
    };
    let settings = load_settings(&options.config, &flags)?;
    let stack = stack_name(options, &settings)?;
    let names = Names::new(&stack);
    let aws = Box::pin(Aws::connect(options)).await?;
    if options.output == crate::cli::Output::Csv {
        return Err(Error::Config("--output csv is for cost-report; use text or json".into()));
    }
    let dry_run = matches!(command, StackCommand::Deploy(args) if args.dry_run);
    let cx = Context { aws: &aws, names: &names, settings: &settings, dry_run, websocket_api: None };
    // Boxed: the SDK's futures are large, and a debug build would copy them onto a thread's stack.
    match command {
        StackCommand::Deploy(args) => Box::pin(deploy::run(&cx, args)).await,
        StackCommand::Status => Box::pin(status::run(&cx)).await,
        StackCommand::Destroy(args) => Box::pin(destroy::run(&cx, args)).await,
    }
}

/// What to do with the stack's key ring.
#[derive(Clone, Debug)]
pub enum KeyAction {
    ServerKey,
    Rotate,
    /// Sets (or, with `None`, removes) the HS256 identity-token secret.
    SetHs256Secret(Option<Hs256Secret>),
}

/// `server-key`, `keys rotate` or `keys hs256-secret`; what to print.
pub async fn keys(options: &AwsOptions, action: KeyAction) -> Result<String, Error> {
    let settings = load_settings(&options.config, &SettingFlags::default())?;
    let stack = stack_name(options, &settings)?;
    let names = Names::new(&stack);
    let aws = Box::pin(Aws::connect(options)).await?;
    let cx = Context { aws: &aws, names: &names, settings: &settings, dry_run: false, websocket_api: None };
    match action {
        KeyAction::ServerKey => keys::server_key(&cx).await,
        KeyAction::Rotate => Box::pin(keys::rotate(&cx)).await,
        KeyAction::SetHs256Secret(secret) => Box::pin(keys::set_hs256_secret(&cx, secret)).await,
    }
}

/// `smoke`: against `--url`, or against the stack's endpoints with its server key.
pub async fn smoke(options: &AwsOptions, args: &crate::cli::SmokeArgs) -> Result<smoke::SmokeReport, Error> {
    let timeout = std::time::Duration::from_secs(args.timeout_secs.max(1));
    let target = match &args.url {
        Some(url) => smoke::Target::at(url, std::env::var(contract::env::var::SERVER_KEY).ok()),
        None => {
            let settings = load_settings(&options.config, &SettingFlags::default())?;
            let stack = stack_name(options, &settings)?;
            let names = Names::new(&stack);
            let aws = Box::pin(Aws::connect(options)).await?;
            let cx = Context { aws: &aws, names: &names, settings: &settings, dry_run: false, websocket_api: None };
            let report = Box::pin(status::run(&cx)).await?;
            let http = report
                .endpoint
                .ok_or_else(|| Error::Refused(format!("stack '{stack}' has no HTTP API endpoint: deploy it first")))?;
            let server_key = keys::server_key(&cx).await?;
            smoke::Target { http, stream: report.stream_endpoint, server_key: Some(server_key) }
        }
    };
    Ok(smoke::run(&target, timeout).await)
}

/// The exit status a finished run deserves: `status` fails when something is missing.
pub fn exit_code(command: &StackCommand, report: &Report) -> u8 {
    match command {
        StackCommand::Status if report.has(Outcome::Missing) => 1,
        _ => 0,
    }
}
