//! The HTTP API (API Gateway v2): one Lambda proxy integration with payload format 2.0, the
//! `$default` route, the `$default` stage with auto-deploy and throttling, and the permission
//! that lets this API, and only it, invoke the function.

use aws_sdk_apigatewayv2::types::{Api, IntegrationType, ProtocolType, RouteSettings};
use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::report::{Outcome, ResourceReport};
use crate::stack::{TAG_KEY, is_ours};

pub const KIND: &str = "http api";
pub const PERMISSION_KIND: &str = "invoke permission";
const DEFAULT: &str = "$default";
const PAYLOAD_FORMAT: &str = "2.0";
const NOT_FOUND: &[&str] = &["NotFoundException", "ResourceNotFoundException"];

/// The stack's API among those with its name (API names are not unique): the one with its tag.
async fn find(cx: &Context<'_>) -> Result<Option<Api>, Error> {
    let name = &cx.names.http_api;
    let mut token = None;
    let mut same_name = Vec::new();
    loop {
        let page = cx.aws.apigateway.get_apis().set_next_token(token).send().await;
        let page = page.map_err(|e| Error::aws("apigateway:GetApis", name, e))?;
        same_name.extend(page.items().iter().filter(|a| a.name() == Some(name.as_str())).cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let ours =
        |api: &Api| is_ours(&cx.names.stack, api.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())));
    match same_name.iter().find(|a| ours(a)) {
        Some(api) => Ok(Some(api.clone())),
        None if !same_name.is_empty() => Err(cx.foreign(KIND, name)),
        None => Ok(None),
    }
}

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
    let (api, outcome) = match find(cx).await? {
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

/// Every route and stage of this API, and nothing else.
fn source_arn(cx: &Context<'_>, api_id: &str) -> String {
    cx.aws.arn("execute-api", &format!("{api_id}/*"))
}

/// Whether the function's policy has our statement, scoped to `api_id`.
async fn permission_state(cx: &Context<'_>, api_id: &str) -> Result<Option<bool>, Error> {
    let name = &cx.names.function;
    let policy = cx.aws.lambda.get_policy().function_name(name).send().await;
    let Some(policy) = absent_as_none(policy, NOT_FOUND, "lambda:GetPolicy", name)? else { return Ok(None) };
    let document: Value = serde_json::from_str(policy.policy().unwrap_or("{}")).unwrap_or_default();
    let statements = document["Statement"].as_array().cloned().unwrap_or_default();
    let Some(statement) = statements.iter().find(|s| s["Sid"] == cx.names.invoke_permission.as_str()) else {
        return Ok(None);
    };
    let source = &statement["Condition"]["ArnLike"]["AWS:SourceArn"];
    Ok(Some(source == source_arn(cx, api_id).as_str()))
}

pub async fn deploy_permission(cx: &Context<'_>, api_id: &str) -> Result<ResourceReport, Error> {
    let (lambda, function, sid) = (&cx.aws.lambda, &cx.names.function, &cx.names.invoke_permission);
    let state = if api_id.is_empty() { None } else { permission_state(cx, api_id).await? };
    let outcome = match (state, cx.dry_run) {
        (Some(true), _) => Outcome::Unchanged,
        (Some(false), true) => Outcome::WouldUpdate,
        (None, true) => Outcome::WouldCreate,
        (existing, false) => {
            if existing.is_some() {
                let removed = lambda.remove_permission().function_name(function).statement_id(sid).send().await;
                absent_as_none(removed, NOT_FOUND, "lambda:RemovePermission", function)?;
            }
            lambda
                .add_permission()
                .function_name(function)
                .statement_id(sid)
                .action("lambda:InvokeFunction")
                .principal("apigateway.amazonaws.com")
                .source_arn(source_arn(cx, api_id))
                .send()
                .await
                .map_err(|e| Error::aws("lambda:AddPermission", function, e))?;
            if existing.is_some() { Outcome::Updated } else { Outcome::Created }
        }
    };
    Ok(ResourceReport::new(PERMISSION_KIND, sid, outcome).id(source_arn(cx, api_id)))
}

/// The API's report, its endpoint, and the permission's report.
pub async fn status(
    cx: &Context<'_>,
    function_exists: bool,
) -> Result<(ResourceReport, Option<String>, ResourceReport), Error> {
    let (name, sid) = (&cx.names.http_api, &cx.names.invoke_permission);
    let api = match find(cx).await {
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
    let state = if function_exists { permission_state(cx, api_id).await? } else { None };
    let permission = match state {
        Some(true) => ResourceReport::new(PERMISSION_KIND, sid, Outcome::Present),
        Some(false) => ResourceReport::new(PERMISSION_KIND, sid, Outcome::Drifted).changes(vec!["source arn".into()]),
        None => ResourceReport::new(PERMISSION_KIND, sid, Outcome::Missing),
    };
    Ok((report, api.api_endpoint().map(str::to_owned), permission.id(source_arn(cx, api_id))))
}

/// Deletes the API (its integration, route and stage go with it). The permission lives in the
/// function's policy and goes with the function.
pub async fn destroy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    let name = &cx.names.http_api;
    let outcome = match find(cx).await {
        Err(Error::Foreign { .. }) => Outcome::Foreign,
        Err(error) => return Err(error),
        Ok(None) => Outcome::Absent,
        Ok(Some(api)) => {
            let api_id = api.api_id().unwrap_or_default();
            let deleted = cx.aws.apigateway.delete_api().api_id(api_id).send().await;
            absent_as_none(deleted, NOT_FOUND, "apigateway:DeleteApi", api_id)?;
            Outcome::Deleted
        }
    };
    Ok(ResourceReport::new(KIND, name, outcome))
}
