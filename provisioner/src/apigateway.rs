//! What the HTTP API and the WebSocket API share: finding the stack's API by name and tag, and
//! the permission in the function's policy that lets one API, and only it, invoke the function.

use aws_sdk_apigatewayv2::types::Api;
use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::report::{Outcome, ResourceReport};
use crate::stack::is_ours;

pub const NOT_FOUND: &[&str] = &["NotFoundException", "ResourceNotFoundException"];

/// The stack's API named `name` (API names are not unique): the one with its tag; an error if
/// only others' carry the name.
pub async fn find(cx: &Context<'_>, kind: &'static str, name: &str) -> Result<Option<Api>, Error> {
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
    match same_name.iter().find(|a| ours(a)) {
        Some(api) => Ok(Some(api.clone())),
        None if !same_name.is_empty() => Err(cx.foreign(kind, name)),
        None => Ok(None),
    }
}

/// Deletes the stack's API named `name`, with everything in it.
pub async fn destroy(cx: &Context<'_>, kind: &'static str, name: &str) -> Result<ResourceReport, Error> {
    let outcome = match find(cx, kind, name).await {
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
