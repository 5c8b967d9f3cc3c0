//! `deploy`: every resource in dependency order, each created, updated or left unchanged.

use crate::cli::DeployArgs;
use crate::context::Context;
use crate::error::Error;
use crate::image::{self, Image};
use crate::report::{Progress, Report};
use crate::{function, http_api, log_group, repository, role, tables, websocket_api};

pub async fn run(cx: &Context<'_>, args: &DeployArgs) -> Result<Report, Error> {
    // First, so a binary that cannot be shipped stops the deploy before anything is created.
    let image = Image::build(&args.binary, args.ca_bundle.as_deref())?;
    let names = cx.names;
    let progress = Progress::default();
    let repository_uri = progress.step(repository::KIND, &names.repository, repository::deploy(cx)).await?;
    let image_uri =
        progress.step(image::push::KIND, &names.repository, image::push::push(cx, &image, &repository_uri)).await?;
    // Before the role and the function: its id is in the role's policy and the function's
    // environment. Its integration names the function by ARN, which need not exist yet.
    let websocket_api = progress
        .step(websocket_api::KIND, &names.websocket_api, async {
            let (report, api_id) = websocket_api::deploy(cx).await?;
            Ok((report, api_id))
        })
        .await?;
    let cx = &cx.with_websocket_api(Some(websocket_api.clone()).filter(|id| !id.is_empty()));
    progress.report(role::KIND, &names.role, role::deploy(cx)).await?;
    for spec in tables::specs(cx) {
        progress.report(tables::KIND, &spec.name, tables::deploy(cx, &spec)).await?;
    }
    progress.report(log_group::KIND, &names.log_group, log_group::deploy(cx)).await?;
    progress.report(function::KIND, &names.function, function::deploy(cx, &image_uri, args.rotate_token_key)).await?;
    let endpoint = progress
        .step(http_api::KIND, &names.http_api, async {
            let (report, endpoint) = http_api::deploy(cx).await?;
            let api_id = report.id.clone().unwrap_or_default();
            Ok((report, (endpoint, api_id)))
        })
        .await?;
    let (endpoint, api_id) = endpoint;
    progress
        .report(http_api::PERMISSION_KIND, &names.invoke_permission, http_api::deploy_permission(cx, &api_id))
        .await?;
    let permission = websocket_api::deploy_permission(cx, &websocket_api);
    progress.report(websocket_api::PERMISSION_KIND, &names.websocket_permission, permission).await?;
    Ok(progress.finish(names.stack.as_str(), Some(endpoint).filter(|e| !e.is_empty()), cx.stream_endpoint()))
}
