//! What the HTTP API and the WebSocket API share: finding the stack's API by name and tag, its
//! integration, routes and stage ([`Layout`]), and the permission in the function's policy that
//! lets one API, and only it, invoke the function.

use aws_sdk_apigatewayv2::types::{Api, IntegrationType, RouteSettings};
use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::report::{Outcome, ResourceReport};
use crate::resource::Observation;
use crate::stack::{TAG_KEY, is_ours};

pub const NOT_FOUND: &[&str] = &["NotFoundException", "ResourceNotFoundException"];

/// The stack's API named `name` (API names are not unique): the one with its tag; foreign if
/// only others' carry the name.
pub async fn find(cx: &Context<'_>, name: &str) -> Result<Observation<Api>, Error> {
    let mut token = None;
    let mut same_name = Vec::new();
    loop {
        let page = cx.aws.apigateway.get_apis().set_next_token(token).send().await;
        let page = page.map_err(|e| Error::aws("apigateway:GetApis", name, e))?;
        same_name.extend(page.items().iter().filter(|a| a.name() == Some(name)).cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let ours =
        |api: &Api| is_ours(&cx.names.stack, api.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(match same_name.iter().find(|a| ours(a)) {
        Some(api) => Observation::Ours(api.clone()),
        None if !same_name.is_empty() => Observation::Foreign,
        None => Observation::Absent,
    })
}

/// Creates (by `create`) or repairs the stack's API named `name` so it holds `layout`: its report,
/// and the API (`None` in a dry run of a new one).
pub async fn deploy<F>(
    cx: &Context<'_>,
    kind: &'static str,
    name: &str,
    layout: &Layout<'_>,
    create: impl FnOnce() -> F,
) -> Result<(ResourceReport, Option<Api>), Error>
where
    F: Future<Output = Result<Api, Error>>,
{
    let (api, created) = match find(cx, name).await? {
        Observation::Ours(api) => (api, false),
        Observation::Foreign => return Err(cx.foreign(kind, name)),
        Observation::Absent if cx.dry_run => return Ok((ResourceReport::new(kind, name, Outcome::WouldCreate), None)),
        Observation::Absent => (create().await?, true),
    };
    let api_id = api.api_id().unwrap_or_default().to_owned();
    let changes = layout.converge(cx, &api_id).await?;
    let report = if created {
        ResourceReport::new(kind, name, Outcome::Created)
    } else {
        ResourceReport::new(kind, name, cx.changed_outcome(!changes.is_empty())).changes(changes)
    };
    Ok((report.id(api_id), Some(api)))
}

/// The stack's API named `name` as `status` reports it against `layout`, and the API when it is
/// the stack's.
pub async fn status(
    cx: &Context<'_>,
    kind: &'static str,
    name: &str,
    layout: &Layout<'_>,
) -> Result<(ResourceReport, Option<Api>), Error> {
    let api = match find(cx, name).await? {
        Observation::Foreign => return Ok((ResourceReport::new(kind, name, Outcome::Foreign), None)),
        Observation::Absent => return Ok((ResourceReport::new(kind, name, Outcome::Missing), None)),
        Observation::Ours(api) => api,
    };
    let api_id = api.api_id().unwrap_or_default();
    let changes = layout.drift(&layout.observe(cx, api_id).await?);
    let outcome = if changes.is_empty() { Outcome::Present } else { Outcome::Drifted };
    Ok((ResourceReport::new(kind, name, outcome).id(api_id).changes(changes), Some(api)))
}

/// Deletes the stack's API named `name`, with everything in it.
pub async fn destroy(cx: &Context<'_>, kind: &'static str, name: &str) -> Result<ResourceReport, Error> {
    let outcome = match find(cx, name).await? {
        Observation::Foreign => Outcome::Foreign,
        Observation::Absent => Outcome::Absent,
        Observation::Ours(api) => {
            let api_id = api.api_id().unwrap_or_default();
            let deleted = cx.aws.apigateway.delete_api().api_id(api_id).send().await;
            absent_as_none(deleted, NOT_FOUND, "apigateway:DeleteApi", api_id)?;
            Outcome::Deleted
        }
    };
    Ok(ResourceReport::new(kind, name, outcome))
}

/// A statement of the function's policy letting one API invoke it.
pub struct InvokePermission<'a> {
    pub kind: &'static str,
    /// The statement id.
    pub sid: &'a str,
    pub api_id: &'a str,
}

impl InvokePermission<'_> {
    /// Every route and stage of this API, and nothing else.
    pub fn source_arn(&self, cx: &Context<'_>) -> String {
        cx.aws.arn("execute-api", &format!("{}/*", self.api_id))
    }

    /// Whether the function's policy has the statement, scoped to the API.
    async fn state(&self, cx: &Context<'_>) -> Result<Option<bool>, Error> {
        let name = &cx.names.function;
        let policy = cx.aws.lambda.get_policy().function_name(name).send().await;
        let Some(policy) = absent_as_none(policy, NOT_FOUND, "lambda:GetPolicy", name)? else { return Ok(None) };
        let document: Value = serde_json::from_str(policy.policy().unwrap_or("{}")).unwrap_or_default();
        let statements = document["Statement"].as_array().cloned().unwrap_or_default();
        let Some(statement) = statements.iter().find(|s| s["Sid"] == self.sid) else {
            return Ok(None);
        };
        let source = &statement["Condition"]["ArnLike"]["AWS:SourceArn"];
        Ok(Some(source == self.source_arn(cx).as_str()))
    }

    pub async fn deploy(&self, cx: &Context<'_>) -> Result<ResourceReport, Error> {
        let (lambda, function) = (&cx.aws.lambda, &cx.names.function);
        let state = if self.api_id.is_empty() { None } else { self.state(cx).await? };
        let outcome = match (state, cx.dry_run) {
            (Some(true), _) => Outcome::Unchanged,
            (Some(false), true) => Outcome::WouldUpdate,
            (None, true) => Outcome::WouldCreate,
            (existing, false) => {
                if existing.is_some() {
                    let removed =
                        lambda.remove_permission().function_name(function).statement_id(self.sid).send().await;
                    absent_as_none(removed, NOT_FOUND, "lambda:RemovePermission", function)?;
                }
                lambda
                    .add_permission()
                    .function_name(function)
                    .statement_id(self.sid)
                    .action("lambda:InvokeFunction")
                    .principal("apigateway.amazonaws.com")
                    .source_arn(self.source_arn(cx))
                    .send()
                    .await
                    .map_err(|e| Error::aws("lambda:AddPermission", function, e))?;
                if existing.is_some() { Outcome::Updated } else { Outcome::Created }
            }
        };
        Ok(ResourceReport::new(self.kind, self.sid, outcome).id(self.source_arn(cx)))
    }

    /// Present, drifted or missing; missing without a function to hold it.
    pub async fn status(&self, cx: &Context<'_>, function_exists: bool) -> Result<ResourceReport, Error> {
        let state = if function_exists { self.state(cx).await? } else { None };
        let report = match state {
            Some(true) => ResourceReport::new(self.kind, self.sid, Outcome::Present),
            Some(false) => {
                ResourceReport::new(self.kind, self.sid, Outcome::Drifted).changes(vec!["source arn".into()])
            }
            None => ResourceReport::new(self.kind, self.sid, Outcome::Missing),
        };
        Ok(report.id(self.source_arn(cx)))
    }
}

/// What an API of the stack contains: one Lambda proxy integration with the function, routes
/// targeting it, and a stage with auto-deploy and the deployment's throttling.
pub struct Layout<'a> {
    pub integration_uri: String,
    /// The integration's payload format, for HTTP APIs (WebSocket APIs have none to set).
    pub payload_format: Option<&'static str>,
    pub routes: &'a [&'a str],
    pub stage: &'a str,
}

/// An API's parts as they are: each `None` when missing, with whether it is as it should be.
pub struct Parts {
    integration: Option<(String, bool)>,
    /// Route key, route id, and whether it targets the integration.
    routes: Vec<(String, String, bool)>,
    stage_ok: Option<bool>,
}

impl Layout<'_> {
    pub async fn observe(&self, cx: &Context<'_>, api_id: &str) -> Result<Parts, Error> {
        let gw = &cx.aws.apigateway;
        let integrations = gw.get_integrations().api_id(api_id).send().await;
        let integrations = integrations.map_err(|e| Error::aws("apigateway:GetIntegrations", api_id, e))?;
        let integration = integrations.items().first().map(|i| {
            let right = i.integration_type() == Some(&IntegrationType::AwsProxy)
                && i.integration_uri() == Some(self.integration_uri.as_str())
                && self.payload_format.is_none_or(|format| i.payload_format_version() == Some(format));
            (i.integration_id().unwrap_or_default().to_owned(), right)
        });
        let listed = gw.get_routes().api_id(api_id).send().await;
        let listed = listed.map_err(|e| Error::aws("apigateway:GetRoutes", api_id, e))?;
        let target = integration.as_ref().map(|(id, _)| format!("integrations/{id}"));
        let routes = listed
            .items()
            .iter()
            .filter(|r| r.route_key().is_some_and(|k| self.routes.contains(&k)))
            .map(|r| {
                let right = target.is_some() && r.target() == target.as_deref();
                (r.route_key().unwrap_or_default().to_owned(), r.route_id().unwrap_or_default().to_owned(), right)
            })
            .collect();
        let stage = gw.get_stage().api_id(api_id).stage_name(self.stage).send().await;
        let stage_ok = absent_as_none(stage, NOT_FOUND, "apigateway:GetStage", api_id)?.map(|stage| {
            let throttling = stage.default_route_settings();
            stage.auto_deploy() == Some(true)
                && throttling.and_then(|t| t.throttling_rate_limit()) == Some(cx.settings.throttling_rate)
                && throttling.and_then(|t| t.throttling_burst_limit()) == Some(cx.settings.throttling_burst)
        });
        Ok(Parts { integration, routes, stage_ok })
    }

    /// What differs, one phrase each.
    pub fn drift(&self, parts: &Parts) -> Vec<String> {
        let mut changes = Vec::new();
        match parts.integration {
            None => changes.push("no integration".to_owned()),
            Some((_, false)) => changes.push("integration".to_owned()),
            _ => {}
        }
        for key in self.routes {
            match parts.routes.iter().find(|(k, _, _)| k == key) {
                None => changes.push(format!("no {key} route")),
                Some((_, _, false)) => changes.push(format!("{key} route target")),
                _ => {}
            }
        }
        match parts.stage_ok {
            None => changes.push(format!("no {} stage", self.stage)),
            Some(false) => changes.push("stage throttling or auto-deploy".to_owned()),
            _ => {}
        }
        changes
    }

    /// Observes the API's parts and, unless in a dry run, creates or updates what differs;
    /// returns what differed.
    pub async fn converge(&self, cx: &Context<'_>, api_id: &str) -> Result<Vec<String>, Error> {
        let parts = self.observe(cx, api_id).await?;
        if !cx.dry_run {
            self.repair(cx, api_id, &parts).await?;
        }
        Ok(self.drift(&parts))
    }

    async fn repair(&self, cx: &Context<'_>, api_id: &str, parts: &Parts) -> Result<(), Error> {
        let gw = &cx.aws.apigateway;
        let format = self.payload_format.map(str::to_owned);
        let integration_id = match &parts.integration {
            Some((id, true)) => id.clone(),
            Some((id, false)) => {
                let update = gw
                    .update_integration()
                    .api_id(api_id)
                    .integration_id(id)
                    .integration_type(IntegrationType::AwsProxy)
                    .integration_uri(&self.integration_uri)
                    .set_payload_format_version(format);
                update.send().await.map_err(|e| Error::aws("apigateway:UpdateIntegration", api_id, e))?;
                id.clone()
            }
            None => {
                let create = gw
                    .create_integration()
                    .api_id(api_id)
                    .integration_type(IntegrationType::AwsProxy)
                    .integration_uri(&self.integration_uri)
                    .set_payload_format_version(format);
                let created = create.send().await.map_err(|e| Error::aws("apigateway:CreateIntegration", api_id, e))?;
                created.integration_id().unwrap_or_default().to_owned()
            }
        };
        let target = format!("integrations/{integration_id}");
        for key in self.routes {
            match parts.routes.iter().find(|(k, _, _)| k == key) {
                Some((_, _, true)) => {}
                Some((_, id, false)) => {
                    let update = gw.update_route().api_id(api_id).route_id(id).target(&target);
                    update.send().await.map_err(|e| Error::aws("apigateway:UpdateRoute", api_id, e))?;
                }
                None => {
                    let create = gw.create_route().api_id(api_id).route_key(*key).target(&target);
                    create.send().await.map_err(|e| Error::aws("apigateway:CreateRoute", api_id, e))?;
                }
            }
        }
        let throttling = RouteSettings::builder()
            .throttling_rate_limit(cx.settings.throttling_rate)
            .throttling_burst_limit(cx.settings.throttling_burst)
            .build();
        match parts.stage_ok {
            Some(true) => {}
            Some(false) => {
                let update = gw
                    .update_stage()
                    .api_id(api_id)
                    .stage_name(self.stage)
                    .auto_deploy(true)
                    .default_route_settings(throttling);
                update.send().await.map_err(|e| Error::aws("apigateway:UpdateStage", api_id, e))?;
            }
            None => {
                let create = gw
                    .create_stage()
                    .api_id(api_id)
                    .stage_name(self.stage)
                    .auto_deploy(true)
                    .default_route_settings(throttling)
                    .tags(TAG_KEY, cx.names.stack.as_str());
                create.send().await.map_err(|e| Error::aws("apigateway:CreateStage", api_id, e))?;
            }
        }
        Ok(())
    }
}
