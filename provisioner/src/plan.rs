//! The stack's resources in dependency order — one list that `deploy` walks forwards, `status`
//! forwards and `destroy` backwards — and what each command does at each step.

use crate::boundary::Boundary;
use crate::context::Context;
use crate::error::Error;
use crate::function::Function;
use crate::image::{self, Image};
use crate::log_group::LogGroup;
use crate::report::{Progress, Report};
use crate::repository::Repository;
use crate::resource::{Mode, Observation, Resource, reconcile};
use crate::role::Role;
use crate::secret::{KeyRingRef, KeyRingSecret};
use crate::{http_api, tables, websocket_api};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Repository,
    /// The image in the repository (pushed by deploy; gone with the repository).
    Image,
    /// The key ring: the function's environment names it, and the role may read it.
    Secret,
    /// Before the role and the function: its id is in the role's policy and the function's
    /// environment. Its integration names the function by ARN, which need not exist yet.
    WebsocketApi,
    /// Before the role, which is created under it.
    Boundary,
    Role,
    Tables,
    LogGroup,
    Function,
    HttpApi,
    /// The permissions live in the function's policy: they go with the function.
    HttpPermission,
    WebsocketPermission,
}

pub const ORDER: [Step; 12] = [
    Step::Repository,
    Step::Image,
    Step::Secret,
    Step::WebsocketApi,
    Step::Boundary,
    Step::Role,
    Step::Tables,
    Step::LogGroup,
    Step::Function,
    Step::HttpApi,
    Step::HttpPermission,
    Step::WebsocketPermission,
];

/// What a command does, with what it needs.
pub enum Command<'a> {
    Deploy { image: &'a Image },
    Status,
    Destroy { keep_data: bool },
}

impl Command<'_> {
    fn mode(&self) -> Mode {
        match self {
            Self::Deploy { .. } => Mode::Deploy,
            Self::Status => Mode::Status,
            Self::Destroy { keep_data } => Mode::Destroy { keep_data: *keep_data },
        }
    }
}

/// What earlier steps found that later ones need.
#[derive(Default)]
struct Outputs {
    repository_uri: Option<String>,
    /// The image deploy pushed, or the one the function runs.
    image_uri: Option<String>,
    http_api: Option<String>,
    endpoint: Option<String>,
    key_ring: Option<KeyRingRef>,
}

/// Runs `command` over every step, in order (backwards for destroy).
pub async fn run(cx: &Context<'_>, command: &Command<'_>) -> Result<Report, Error> {
    let progress = Progress::default();
    let mut cx = cx.with_websocket_api(None);
    let mut outputs = Outputs::default();
    let steps: Vec<Step> = match command {
        Command::Destroy { .. } => ORDER.into_iter().rev().collect(),
        _ => ORDER.to_vec(),
    };
    // Status needs the function's image before the image step: it looks it up first.
    if matches!(command, Command::Status) {
        let function = Function { image_uri: None, key_ring: None };
        if let Observation::Ours(found) = function.observe(&cx).await? {
            outputs.image_uri = function.output(&found);
        }
    }
    for step in steps {
        if step == Step::WebsocketApi {
            // Its id changes the context of the steps after it (the role's policy, the function's
            // environment, the stream endpoint).
            let api = Box::pin(resource(&cx, &websocket_api::api(&cx), command.mode(), &progress)).await?;
            cx = cx.with_websocket_api(api.and_then(|api| api.api_id).filter(|id| !id.is_empty()));
            continue;
        }
        Box::pin(one(&cx, step, command, &progress, &mut outputs)).await?;
    }
    let endpoint = outputs.endpoint.filter(|e| !e.is_empty());
    let stream = if matches!(command, Command::Destroy { .. }) { None } else { cx.stream_endpoint() };
    Ok(progress.finish(cx.names.stack.as_str(), endpoint, stream))
}

async fn one(
    cx: &Context<'_>,
    step: Step,
    command: &Command<'_>,
    progress: &Progress,
    outputs: &mut Outputs,
) -> Result<(), Error> {
    let names = cx.names;
    let mode = command.mode();
    match step {
        Step::Repository => outputs.repository_uri = resource(cx, &Repository, mode, progress).await?,
        Step::Image => match command {
            Command::Deploy { image, .. } => {
                let uri = outputs.repository_uri.clone().unwrap_or_default();
                let push = image::push::push(cx, image, &uri);
                outputs.image_uri = Some(progress.step(image::push::KIND, &names.repository, push).await?);
            }
            Command::Status => {
                let status = image::push::status(cx, outputs.image_uri.clone());
                progress.report(image::push::KIND, &names.repository, status).await?;
            }
            Command::Destroy { .. } => {}
        },
        Step::WebsocketApi => unreachable!("run handles the WebSocket API, whose id changes the context"),
        Step::Secret => outputs.key_ring = resource(cx, &KeyRingSecret, mode, progress).await?,
        Step::Boundary => {
            resource(cx, &Boundary, mode, progress).await?;
        }
        Step::Role => {
            resource(cx, &Role, mode, progress).await?;
        }
        Step::Tables => {
            for table in tables::specs(cx) {
                resource(cx, &table, mode, progress).await?;
            }
        }
        Step::LogGroup => {
            resource(cx, &LogGroup::function(cx), mode, progress).await?;
            // Without access logs there is no such group to deploy or report; destroy still
            // removes one an earlier deploy made.
            if cx.settings.access_logs || matches!(command, Command::Destroy { .. }) {
                resource(cx, &LogGroup::access(cx), mode, progress).await?;
            }
        }
        Step::Function => {
            let image_uri = match command {
                Command::Deploy { .. } => outputs.image_uri.as_deref(),
                _ => None,
            };
            resource(cx, &Function { image_uri, key_ring: outputs.key_ring.as_ref() }, mode, progress).await?;
        }
        Step::HttpApi => {
            if let Some(api) = resource(cx, &http_api::api(cx), mode, progress).await? {
                outputs.http_api = api.api_id;
                outputs.endpoint = api.api_endpoint;
            }
        }
        // Deleted with the function, whose policy holds them.
        Step::HttpPermission | Step::WebsocketPermission if matches!(command, Command::Destroy { .. }) => {}
        Step::HttpPermission => {
            resource(cx, &http_api::permission(cx, outputs.http_api.as_deref()), mode, progress).await?;
        }
        Step::WebsocketPermission => {
            resource(cx, &websocket_api::permission(cx, cx.websocket_api.as_deref()), mode, progress).await?;
        }
    }
    Ok(())
}

/// One resource through the shared state machine, under its progress line; its output.
async fn resource<R: Resource>(
    cx: &Context<'_>,
    resource: &R,
    mode: Mode,
    progress: &Progress,
) -> Result<Option<R::Output>, Error> {
    let (kind, name) = (resource.kind(), resource.name(cx));
    progress
        .step(kind, &name, async {
            let reconciled = reconcile(cx, resource, mode).await?;
            Ok((reconciled.report, reconciled.output))
        })
        .await
}
