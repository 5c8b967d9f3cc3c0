//! The WebSocket API (API Gateway v2) that pushes new messages to connected clients: one Lambda
//! proxy integration with the same function, the `$connect`, `$disconnect` and `$default` routes,
//! and the [`STAGE`] stage with auto-deploy and the HTTP API's throttling. Its id names the
//! function's push endpoint and the one API the role may post to connections of.

use aws_sdk_apigatewayv2::types::{Api, IntegrationType, ProtocolType, RouteSettings};

use crate::apigateway::{self, InvokePermission, NOT_FOUND};
use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::report::{Outcome, ResourceReport};
use crate::stack::TAG_KEY;

pub const KIND: &str = "websocket api";
pub const PERMISSION_KIND: &str = "websocket invoke permission";
/// The stage clients connect to: `wss://{api}.execute-api.{region}.amazonaws.com/live`.
pub const STAGE: &str = "live";
pub const ROUTES: [&str; 3] = ["$connect", "$disconnect", "$default"];
/// Every message goes to `$default`, whatever its `action`: the function reads the action itself.
const ROUTE_SELECTION: &str = "$request.body.action";

/// How API Gateway invokes the function for a WebSocket API (a Lambda proxy integration takes
/// the invocation URI here, where an HTTP API takes the function's ARN).
fn integration_uri(cx: &Context<'_>) -> String {
    let (partition, region) = (&cx.aws.account.partition, &cx.aws.region);
    format!("arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{}/invocations", cx.function_arn())
}

struct Parts {
    integration: Option<(String, bool)>,
    /// Route key → (route id, targets the integration).
    routes: Vec<(String, String, bool)>,
    stage_ok: Option<bool>,
}

async fn parts(cx: &Context<'_>, api_id: &str) -> Result<Parts, Error> {
    let gw = &cx.aws.apigateway;
    let integrations = gw.get_integrations().api_id(api_id).send().await;
    let integrations = integrations.map_err(|e| Error::aws("apigateway:GetIntegrations", api_id, e))?;
    let uri = integration_uri(cx);
    let integration = integrations.items().first().map(|i| {
        let right =
            i.integration_type() == Some(&IntegrationType::AwsProxy) && i.integration_uri() == Some(uri.as_str());
        (i.integration_id().unwrap_or_default().to_owned(), right)
    });
    let listed = gw.get_routes().api_id(api_id).send().await;
    let listed = listed.map_err(|e| Error::aws("apigateway:GetRoutes", api_id, e))?;
    let target = integration.as_ref().map(|(id, _)| format!("integrations/{id}"));
    let routes = listed
        .items()
        .iter()
        .filter(|r| r.route_key().is_some_and(|k| ROUTES.contains(&k)))
        .map(|r| {
            let right = target.is_some() && r.target() == target.as_deref();
            (r.route_key().unwrap_or_default().to_owned(), r.route_id().unwrap_or_default().to_owned(), right)
        })
        .collect();
    let stage = gw.get_stage().api_id(api_id).stage_name(STAGE).send().await;
    let stage_ok = absent_as_none(stage, NOT_FOUND, "apigateway:GetStage", api_id)?.map(|stage| {
        let throttling = stage.default_route_settings();
        stage.auto_deploy() == Some(true)
            && throttling.and_then(|t| t.throttling_rate_limit()) == Some(cx.settings.throttling_rate)
            && throttling.and_then(|t| t.throttling_burst_limit()) == Some(cx.settings.throttling_burst)
    });
    Ok(Parts { integration, routes, stage_ok })
}

fn drift(parts: &Parts) -> Vec<String> {
    let mut changes = Vec::new();
    match parts.integration {
        None => changes.push("no integration".to_owned()),
        Some((_, false)) => changes.push("integration".to_owned()),
        _ => {}
    }
    for key in ROUTES {
        match parts.routes.iter().find(|(k, _, _)| k == key) {
            None => changes.push(format!("no {key} route")),
            Some((_, _, false)) => changes.push(format!("{key} route target")),
            _ => {}
        }
    }
    match parts.stage_ok {
        None => changes.push(format!("no {STAGE} stage")),
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

/// Creates or repairs the API; returns its report and id (empty in a dry run of a new one).
pub async fn deploy(cx: &Context<'_>) -> Result<(ResourceReport, String), Error> {
    let (gw, name) = (&cx.aws.apigateway, &cx.names.websocket_api);
    let (api, outcome) = match apigateway::find(cx, KIND, name).await? {
        Some(api) => (api, None),
        None if cx.dry_run => return Ok((ResourceReport::new(KIND, name, Outcome::WouldCreate), String::new())),
        None => {
            let created = gw
                .create_api()
                .name(name)
                .protocol_type(ProtocolType::Websocket)
                .route_selection_expression(ROUTE_SELECTION)
                .tags(TAG_KEY, cx.names.stack.as_str());
            let created = created.send().await.map_err(|e| Error::aws("apigateway:CreateApi", name, e))?;
            (
                Api::builder().set_api_id(created.api_id).name(name).protocol_type(ProtocolType::Websocket).build(),
                Some(Outcome::Created),
            )
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
    Ok((ResourceReport::new(KIND, name, outcome).id(api_id.clone()).changes(changes), api_id))
}

async fn repair(cx: &Context<'_>, api_id: &str, parts: &Parts) -> Result<(), Error> {
    let gw = &cx.aws.apigateway;
    let uri = integration_uri(cx);
    let integration_id = match &parts.integration {
        Some((id, true)) => id.clone(),
        Some((id, false)) => {
            let update = gw
                .update_integration()
                .api_id(api_id)
                .integration_id(id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(&uri);
            update.send().await.map_err(|e| Error::aws("apigateway:UpdateIntegration", api_id, e))?;
            id.clone()
        }
        None => {
            let create = gw
                .create_integration()
                .api_id(api_id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(&uri);
            let created = create.send().await.map_err(|e| Error::aws("apigateway:CreateIntegration", api_id, e))?;
            created.integration_id().unwrap_or_default().to_owned()
        }
    };
    let target = format!("integrations/{integration_id}");
    for key in ROUTES {
        match parts.routes.iter().find(|(k, _, _)| k == key) {
            Some((_, _, true)) => {}
            Some((_, id, false)) => {
                let update = gw.update_route().api_id(api_id).route_id(id).target(&target);
                update.send().await.map_err(|e| Error::aws("apigateway:UpdateRoute", api_id, e))?;
            }
            None => {
                let create = gw.create_route().api_id(api_id).route_key(key).target(&target);
                create.send().await.map_err(|e| Error::aws("apigateway:CreateRoute", api_id, e))?;
            }
        }
    }
    match parts.stage_ok {
        Some(true) => {}
        Some(false) => {
            let update = gw
                .update_stage()
                .api_id(api_id)
                .stage_name(STAGE)
                .auto_deploy(true)
                .default_route_settings(throttling(cx));
            update.send().await.map_err(|e| Error::aws("apigateway:UpdateStage", api_id, e))?;
        }
        None => {
            let create = gw
                .create_stage()
                .api_id(api_id)
                .stage_name(STAGE)
                .auto_deploy(true)
                .default_route_settings(throttling(cx))
                .tags(TAG_KEY, cx.names.stack.as_str());
            create.send().await.map_err(|e| Error::aws("apigateway:CreateStage", api_id, e))?;
        }
    }
    Ok(())
}

fn permission<'a>(cx: &'a Context<'_>, api_id: &'a str) -> InvokePermission<'a> {
    InvokePermission { kind: PERMISSION_KIND, sid: &cx.names.websocket_permission, api_id }
}

pub async fn deploy_permission(cx: &Context<'_>, api_id: &str) -> Result<ResourceReport, Error> {
    permission(cx, api_id).deploy(cx).await
}

/// The API's report and id (when it is the stack's).
pub async fn status(cx: &Context<'_>) -> Result<(ResourceReport, Option<String>), Error> {
    let name = &cx.names.websocket_api;
    let api = match apigateway::find(cx, KIND, name).await {
        Err(Error::Foreign { .. }) => return Ok((ResourceReport::new(KIND, name, Outcome::Foreign), None)),
        other => other?,
    };
    let Some(api) = api else { return Ok((ResourceReport::new(KIND, name, Outcome::Missing), None)) };
    let api_id = api.api_id().unwrap_or_default().to_owned();
    let changes = drift(&parts(cx, &api_id).await?);
    let outcome = if changes.is_empty() { Outcome::Present } else { Outcome::Drifted };
    Ok((ResourceReport::new(KIND, name, outcome).id(api_id.clone()).changes(changes), Some(api_id)))
}

/// The permission's report: missing without the API or the function.
pub async fn permission_status(
    cx: &Context<'_>,
    api_id: Option<&str>,
    function_exists: bool,
) -> Result<ResourceReport, Error> {
    match api_id {
        Some(api_id) => permission(cx, api_id).status(cx, function_exists).await,
        None => Ok(ResourceReport::new(PERMISSION_KIND, &cx.names.websocket_permission, Outcome::Missing)),
    }
}

/// Deletes the API (its integration, routes and stage go with it, and every open connection).
pub async fn destroy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    apigateway::destroy(cx, KIND, &cx.names.websocket_api).await
}
