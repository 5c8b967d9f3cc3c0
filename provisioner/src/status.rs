//! `status`: each resource as present, missing, drifted from the settings, or foreign.

use aws_sdk_ecr::types::ImageIdentifier;

use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::image::push;
use crate::report::{Outcome, Progress, Report, ResourceReport};
use crate::{function, http_api, log_group, repository, role, tables, websocket_api};

pub async fn run(cx: &Context<'_>) -> Result<Report, Error> {
    let names = cx.names;
    let progress = Progress::default();
    progress.report(repository::KIND, &names.repository, repository::status(cx)).await?;
    // First among the rest: the role's policy and the function's environment name its id.
    let websocket_api = progress.step(websocket_api::KIND, &names.websocket_api, websocket_api::status(cx)).await?;
    let cx = &cx.with_websocket_api(websocket_api.clone());
    let function = progress
        .step(function::KIND, &names.function, async {
            let (report, observed) = function::status(cx).await?;
            Ok((report, observed))
        })
        .await?;
    let image_uri = function.as_ref().and_then(|f| f.image_uri.clone());
    progress.report(push::KIND, &names.repository, image_status(cx, image_uri)).await?;
    progress.report(role::KIND, &names.role, role::status(cx)).await?;
    for spec in tables::specs(cx) {
        progress.report(tables::KIND, &spec.name, tables::status(cx, &spec)).await?;
    }
    progress.report(log_group::KIND, &names.log_group, log_group::status(cx)).await?;
    let (endpoint, permission) = progress
        .step(http_api::KIND, &names.http_api, async {
            let (api, endpoint, permission) = http_api::status(cx, function.is_some()).await?;
            Ok((api, (endpoint, permission)))
        })
        .await?;
    progress.report(http_api::PERMISSION_KIND, &names.invoke_permission, async { Ok(permission) }).await?;
    let permission = websocket_api::permission_status(cx, websocket_api.as_deref(), function.is_some());
    progress.report(websocket_api::PERMISSION_KIND, &names.websocket_permission, permission).await?;
    Ok(progress.finish(names.stack.as_str(), endpoint, cx.stream_endpoint()))
}

/// The image the function runs, looked up in the repository; with no function, whether the
/// repository holds any image at all.
async fn image_status(cx: &Context<'_>, image_uri: Option<String>) -> Result<ResourceReport, Error> {
    let name = &cx.names.repository;
    let present = match image_uri.as_deref().and_then(|uri| uri.split_once('@')) {
        Some((_, digest)) => push::exists(cx, digest).await?,
        None => {
            let listed = cx.aws.ecr.list_images().repository_name(name).max_results(1).send().await;
            let listed = absent_as_none(listed, &["RepositoryNotFoundException"], "ecr:ListImages", name)?;
            listed.is_some_and(|l| l.image_ids().iter().any(|id: &ImageIdentifier| id.image_digest().is_some()))
        }
    };
    let report = ResourceReport::new(push::KIND, name, if present { Outcome::Present } else { Outcome::Missing });
    Ok(match image_uri {
        Some(uri) => report.id(uri),
        None => report,
    })
}
