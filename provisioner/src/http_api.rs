//! The HTTP API (API Gateway v2): one Lambda proxy integration with payload format 2.0, the
//! `$default` route, the `$default` stage with auto-deploy and throttling, and the permission
//! that lets this API, and only it, invoke the function.

use aws_sdk_apigatewayv2::types::{Api, IntegrationType, ProtocolType, RouteSettings};

use crate::apigateway::{self, InvokePermission, NOT_FOUND};
use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::report::{Outcome, ResourceReport};
use crate::stack::TAG_KEY;

pub const KIND: &str = "http api";
pub const PERMISSION_KIND: &str = "invoke permission";
const DEFAULT: &str = "$default";
const PAYLOAD_FORMAT: &str = "2.0";

struct Parts {
    integration: Option<(String, bool)>,
    route: Option<(String, bool)>,
    stage_ok: Option<bool>,
}

/// The integration, route and stage as they are: each `None` when missing, with whether it
/// matches what it should be.
async fn parts(cx: &Context<'_>, api_id: &str) -> Result<Parts, Error> {
    let gw = &cx.aws.apigateway;
    let integrations = gw.get_integrations().api_id(api_id).send().await;
    let integrations = integrations.map_err(|e| Error::aws("apigateway:GetIntegrations", api_id, e))?;
    let function = cx.function_arn();
    let integration = integrations.items().first().map(|i| {
        let right = i.integration_type() == Some(&IntegrationType::AwsProxy)
            && i.integration_uri() == Some(function.as_str())
            && i.payload_format_version() == Some(PAYLOAD_FORMAT);
        (i.integration_id().unwrap_or_default().to_owned(), right)
    });
    let routes =
        gw.get_routes().api_id(api_id).send().await.map_err(|e| Error::aws("apigateway:GetRoutes", api_id, e))?;
    let route = routes.items().iter().find(|r| r.route_key() == Some(DEFAULT)).map(|r| {
        let right =
            integration.as_ref().is_some_and(|(id, _)| r.target() == Some(format!("integrations/{id}").as_str()));
        (r.route_id().unwrap_or_default().to_owned(), right)
    });
    let stage = gw.get_stage().api_id(api_id).stage_name(DEFAULT).send().await;
    let stage_ok = absent_as_none(stage, NOT_FOUND, "apigateway:GetStage", api_id)?.map(|stage| {
        let throttling = stage.default_route_settings();
        stage.auto_deploy() == Some(true)
            && throttling.and_then(|t| t.throttling_rate_limit()) == Some(cx.settings.throttling_rate)
            && throttling.and_then(|t| t.throttling_burst_limit()) == Some(cx.settings.throttling_burst)
    });
    Ok(Parts { integration, route, stage_ok })
}

fn drift(parts: &Parts) -> Vec<String> {
    let mut changes = Vec::new();
    match parts.integration {
        None => changes.push("no integration".to_owned()),
        Some((_, false)) => changes.push("integration".to_owned()),
        _ => {}
    }
    match parts.route {
        None => changes.push("no $default route".to_owned()),
        Some((_, false)) => changes.push("route target".to_owned()),
        _ => {}
    }
    match parts.stage_ok {
        None => changes.push("no $default stage".to_owned()),
        Some(false) => changes.push("stage throttling or auto-deploy".to_owned()),
        _ => {}
    }
    changes
}

fn throttling(cx: &Context<'_>) -> RouteSettings {
    RouteSettings::builder()
        .throttling_rate_limit(cx.settings.throttling_rate)
        .throttling_burst_limit(cx.settings.throttling_burst)
        .build()
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
    let parts = parts(cx, &api_id).await?;
    let changes = drift(&parts);
    if !cx.dry_run {
        repair(cx, &api_id, &parts).await?;
    }
    let outcome = outcome.unwrap_or_else(|| cx.changed_outcome(!changes.is_empty()));
    let changes = if outcome == Outcome::Created { Vec::new() } else { changes };
    let endpoint = api.api_endpoint().unwrap_or_default().to_owned();
    Ok((ResourceReport::new(KIND, name, outcome).id(api_id).changes(changes), endpoint))
}

async fn repair(cx: &Context<'_>, api_id: &str, parts: &Parts) -> Result<(), Error> {
    let gw = &cx.aws.apigateway;
    let function = cx.function_arn();
    let integration_id = match &parts.integration {
        Some((id, true)) => id.clone(),
        Some((id, false)) => {
            let update = gw
                .update_integration()
                .api_id(api_id)
                .integration_id(id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(&function)
                .payload_format_version(PAYLOAD_FORMAT);
            update.send().await.map_err(|e| Error::aws("apigateway:UpdateIntegration", api_id, e))?;
            id.clone()
        }
        None => {
            let create = gw
                .create_integration()
                .api_id(api_id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(&function)
                .payload_format_version(PAYLOAD_FORMAT);
            let created = create.send().await.map_err(|e| Error::aws("apigateway:CreateIntegration", api_id, e))?;
            created.integration_id().unwrap_or_default().to_owned()
        }
    };
    let target = format!("integrations/{integration_id}");
    match &parts.route {
        Some((_, true)) => {}
        Some((id, false)) => {
            let update = gw.update_route().api_id(api_id).route_id(id).target(&target);
            update.send().await.map_err(|e| Error::aws("apigateway:UpdateRoute", api_id, e))?;
        }
        None => {
            let create = gw.create_route().api_id(api_id).route_key(DEFAULT).target(&target);
            create.send().await.map_err(|e| Error::aws("apigateway:CreateRoute", api_id, e))?;
        }
    }
    match parts.stage_ok {
        Some(true) => {}
        Some(false) => {
            let update = gw
                .update_stage()
                .api_id(api_id)
                .stage_name(DEFAULT)
                .auto_deploy(true)
                .default_route_settings(throttling(cx));
            update.send().await.map_err(|e| Error::aws("apigateway:UpdateStage", api_id, e))?;
        }
        None => {
            let create = gw
                .create_stage()
                .api_id(api_id)
                .stage_name(DEFAULT)
                .auto_deploy(true)
                .default_route_settings(throttling(cx))
                .tags(TAG_KEY, cx.names.stack.as_str());
            create.send().await.map_err(|e| Error::aws("apigateway:CreateStage", api_id, e))?;
        }
    }
    Ok(())
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
    let changes = drift(&parts(cx, api_id).await?);
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
