//! A statement of the function's policy letting one API, and only it, invoke the function.

use std::fmt;

use serde_json::Value;

use super::NOT_FOUND;
use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::resource::{Observation, Resource};

pub struct InvokePermission<'a> {
    pub kind: &'static str,
    /// The statement id.
    pub sid: &'a str,
    /// The API's id; empty while there is none (a dry run of a new one).
    pub api_id: &'a str,
}

/// What can differ: the statement allows another source than this API.
pub struct SourceArn;

impl fmt::Display for SourceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("source arn")
    }
}

impl InvokePermission<'_> {
    /// Every route and stage of this API, and nothing else.
    pub fn source_arn(&self, cx: &Context<'_>) -> String {
        cx.aws.arn("execute-api", &format!("{}/*", self.api_id))
    }

    async fn add(&self, cx: &Context<'_>) -> Result<(), Error> {
        let function = &cx.names.function;
        cx.aws
            .lambda
            .add_permission()
            .function_name(function)
            .statement_id(self.sid)
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn(self.source_arn(cx))
            .send()
            .await
            .map_err(|e| Error::aws("lambda:AddPermission", function, e))?;
        Ok(())
    }
}

impl Resource for InvokePermission<'_> {
    /// Whether the statement is scoped to this API.
    type Observed = bool;
    type Change = SourceArn;
    type Output = ();

    fn kind(&self) -> &'static str {
        self.kind
    }

    fn name(&self, _cx: &Context<'_>) -> String {
        self.sid.to_owned()
    }

    /// None while the API does not exist (a dry run that would create it): its ARN is not known.
    fn id(&self, cx: &Context<'_>, _observed: Option<&bool>) -> String {
        if self.api_id.is_empty() { String::new() } else { self.source_arn(cx) }
    }

    /// Absent without the API, without the function, or without the statement in its policy. A
    /// statement in the stack's own function's policy is the stack's: there is no foreign one.
    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<bool>, Error> {
        if self.api_id.is_empty() {
            return Ok(Observation::Absent);
        }
        let name = &cx.names.function;
        let policy = cx.aws.lambda.get_policy().function_name(name).send().await;
        let Some(policy) = absent_as_none(policy, NOT_FOUND, "lambda:GetPolicy", name)? else {
            return Ok(Observation::Absent);
        };
        let document: Value = serde_json::from_str(policy.policy().unwrap_or("{}")).unwrap_or_default();
        let statements = document["Statement"].as_array().cloned().unwrap_or_default();
        let Some(statement) = statements.iter().find(|s| s["Sid"] == self.sid) else {
            return Ok(Observation::Absent);
        };
        let source = &statement["Condition"]["ArnLike"]["AWS:SourceArn"];
        Ok(Observation::Ours(source == self.source_arn(cx).as_str()))
    }

    fn drift(&self, _cx: &Context<'_>, scoped: &bool) -> Vec<SourceArn> {
        if *scoped { Vec::new() } else { vec![SourceArn] }
    }

    fn output(&self, _scoped: &bool) {}

    async fn create(&self, cx: &Context<'_>) -> Result<(), Error> {
        self.add(cx).await
    }

    /// A statement cannot be changed in place: it is replaced.
    async fn apply(&self, cx: &Context<'_>, _scoped: &bool, _changes: &[SourceArn]) -> Result<(), Error> {
        self.delete(cx, &false).await?;
        self.add(cx).await
    }

    async fn delete(&self, cx: &Context<'_>, _scoped: &bool) -> Result<(), Error> {
        let function = &cx.names.function;
        let removed = cx.aws.lambda.remove_permission().function_name(function).statement_id(self.sid).send().await;
        absent_as_none(removed, NOT_FOUND, "lambda:RemovePermission", function).map(drop)
    }
}
