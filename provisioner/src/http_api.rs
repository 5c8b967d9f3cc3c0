//! The HTTP API (API Gateway v2): one Lambda proxy integration with payload format 2.0, the
//! `$default` route, the `$default` stage with auto-deploy and throttling, and the permission
//! that lets this API, and only it, invoke the function.

use aws_sdk_apigatewayv2::types::{Api, ProtocolType};

use crate::apigateway::{self, InvokePermission, Layout};
use crate::context::Context;
use crate::error::Error;
use crate::report::{Outcome, ResourceReport};
use crate::stack::TAG_KEY;

pub const KIND: &str = "http api";
pub const PERMISSION_KIND: &str = "invoke permission";
const DEFAULT: &str = "$default";
const PAYLOAD_FORMAT: &str = "2.0";

/// The integration (the function by ARN, payload 2.0), the `$default` route and stage.
fn layout(cx: &Context<'_>) -> Layout<'static> {
    Layout {
        integration_uri: cx.function_arn(),
        payload_format: Some(PAYLOAD_FORMAT),
        routes: &[DEFAULT],
        stage: DEFAULT,
    }
}

/// Creates or repairs the API; returns its report and endpoint (empty in a dry run of a new one).
pub async fn deploy(cx: &Context<'_>) -> Result<(ResourceReport, String), Error> {
    let (gw, name) = (&cx.aws.apigateway, &cx.names.http_api);
    let (api, outcome) = match apigateway::find(cx, KIND, name).await? {
        Some(api) => (api, None),
        None if cx.dry_run => return Ok((ResourceReport::new(KIND, name, Outcome::WouldCreate), String::new())),
        None => {
            let created =
                gw.create_api().name(name).protocol_type(ProtocolType::Http).tags(TAG_KEY, cx.names.stack.as_str());
            let created = created.send().await.map_err(|e| Error::aws("apigateway:CreateApi", name, e))?;
            let api = Api::builder()
                .set_api_id(created.api_id)
                .set_api_endpoint(created.api_endpoint)
                .name(name)
                .protocol_type(ProtocolType::Http)
                .route_selection_expression("${request.method} ${request.path}")
                .build();
            (api, Some(Outcome::Created))
        }
    };
    let api_id = api.api_id().unwrap_or_default().to_owned();
    let changes = layout(cx).converge(cx, &api_id).await?;
    let outcome = outcome.unwrap_or_else(|| cx.changed_outcome(!changes.is_empty()));
    let changes = if outcome == Outcome::Created { Vec::new() } else { changes };
    let endpoint = api.api_endpoint().unwrap_or_default().to_owned();
    Ok((ResourceReport::new(KIND, name, outcome).id(api_id).changes(changes), endpoint))
}

/// The permission that lets this API invoke the function.
fn permission<'a>(cx: &'a Context<'_>, api_id: &'a str) -> InvokePermission<'a> {
    InvokePermission { kind: PERMISSION_KIND, sid: &cx.names.invoke_permission, api_id }
}

pub async fn deploy_permission(cx: &Context<'_>, api_id: &str) -> Result<ResourceReport, Error> {
    permission(cx, api_id).deploy(cx).await
}

/// The API's report, its endpoint, and the permission's report.
pub async fn status(
    cx: &Context<'_>,
    function_exists: bool,
) -> Result<(ResourceReport, Option<String>, ResourceReport), Error> {
    let (name, sid) = (&cx.names.http_api, &cx.names.invoke_permission);
    let api = match apigateway::find(cx, KIND, name).await {
        Err(Error::Foreign { .. }) => {
            let missing = ResourceReport::new(PERMISSION_KIND, sid, Outcome::Missing);
            return Ok((ResourceReport::new(KIND, name, Outcome::Foreign), None, missing));
        }
        other => other?,
    };
    let Some(api) = api else {
        return Ok((
            ResourceReport::new(KIND, name, Outcome::Missing),
            None,
            ResourceReport::new(PERMISSION_KIND, sid, Outcome::Missing),
        ));
    };
    let api_id = api.api_id().unwrap_or_default();
    let layout = layout(cx);
    let changes = layout.drift(&layout.observe(cx, api_id).await?);
    let outcome = if changes.is_empty() { Outcome::Present } else { Outcome::Drifted };
    let report = ResourceReport::new(KIND, name, outcome).id(api_id).changes(changes);
    let permission = permission(cx, api_id).status(cx, function_exists).await?;
    Ok((report, api.api_endpoint().map(str::to_owned), permission))
}

/// Deletes the API (its integration, route and stage go with it). The permission lives in the
/// function's policy and goes with the function.
pub async fn destroy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    apigateway::destroy(cx, KIND, &cx.names.http_api).await
}
