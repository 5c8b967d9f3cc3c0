//! The ECR repository that holds the function's image: scan on push, a lifecycle policy keeping
//! the last few images, and a repository policy that lets Lambda pull them.

use std::fmt;

use aws_sdk_ecr::types::{ImageScanningConfiguration, Tag};
use serde_json::{Value, json};

use crate::context::{Context, same_json};
use crate::error::{Error, absent_as_none};
use crate::resource::{Observation, Resource};
use crate::stack::{TAG_KEY, is_ours};

pub const KIND: &str = "ecr repository";
/// Images kept: enough to roll back a few deploys; each is a few MB of ECR storage.
pub const KEEP_IMAGES: u32 = 5;

pub struct Repository;

pub struct Observed {
    uri: String,
    arn: String,
    scan_on_push: bool,
    lifecycle: Option<String>,
    policy: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    ScanOnPush,
    Lifecycle,
    Policy,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ScanOnPush => "scan on push",
            Self::Lifecycle => "lifecycle policy",
            Self::Policy => "repository policy",
        })
    }
}

fn lifecycle_policy() -> Value {
    json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("keep the last {KEEP_IMAGES} images"),
            "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": KEEP_IMAGES },
            "action": { "type": "expire" }
        }]
    })
}

/// The statement of ours in the repository policy, by its `Sid`.
const STATEMENT_ID: &str = "LambdaPullsTheFunctionImage";

/// Lambda pulls a function's image with the Lambda service principal; this grants it exactly the
/// two pull actions, and only on behalf of this stack's function: the source ARN in the form the
/// Lambda Developer Guide documents, `…:function:<name>*` ("Amazon ECR permissions", in
/// "Create a Lambda function using a container image"), which its versions and aliases match too.
fn our_statement(cx: &Context<'_>) -> Value {
    json!({
        "Sid": STATEMENT_ID,
        "Effect": "Allow",
        "Principal": { "Service": "lambda.amazonaws.com" },
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Condition": { "StringLike": { "aws:sourceArn": format!("{}*", cx.function_arn()) } }
    })
}

/// The statements of a policy document other than ours: Lambda adds its own to a repository's
/// policy when it creates a function from it, and they stay.
fn others(policy: Option<&str>) -> Vec<Value> {
    let document: Value = policy.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let statements = document["Statement"].as_array().cloned().unwrap_or_default();
    statements.into_iter().filter(|s| s["Sid"] != STATEMENT_ID).collect()
}

/// Whether the policy holds our statement as the settings want it (whatever else it holds).
fn has_our_statement(cx: &Context<'_>, policy: Option<&str>) -> bool {
    let document: Value = policy.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let statements = document["Statement"].as_array().cloned().unwrap_or_default();
    statements.iter().any(|s| *s == our_statement(cx))
}

/// The policy to set: ours, beside the statements others put there.
fn repository_policy(cx: &Context<'_>, current: Option<&str>) -> Value {
    let mut statements = others(current);
    statements.push(our_statement(cx));
    json!({ "Version": "2012-10-17", "Statement": statements })
}

impl Resource for Repository {
    type Observed = Observed;
    type Change = Change;
    /// The repository's URI, where the image is pushed.
    type Output = String;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self, cx: &Context<'_>) -> String {
        cx.names.repository.clone()
    }

    fn id(&self, _cx: &Context<'_>, observed: Option<&Observed>) -> String {
        observed.map(|o| o.arn.clone()).unwrap_or_default()
    }

    fn deployed_id(&self, _cx: &Context<'_>, uri: Option<&String>) -> String {
        uri.cloned().unwrap_or_default()
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
        let name = &cx.names.repository;
        let found = cx.aws.ecr.describe_repositories().repository_names(name).send().await;
        let found = absent_as_none(found, &["RepositoryNotFoundException"], "ecr:DescribeRepositories", name)?;
        let Some(repository) = found.as_ref().and_then(|f| f.repositories().first()) else {
            return Ok(Observation::Absent);
        };
        let arn = repository.repository_arn().unwrap_or_default().to_owned();
        let tags = cx.aws.ecr.list_tags_for_resource().resource_arn(&arn).send().await;
        let tags = tags.map_err(|e| Error::aws("ecr:ListTagsForResource", name, e))?;
        if !is_ours(&cx.names.stack, tags.tags().iter().map(|t| (t.key(), t.value()))) {
            return Ok(Observation::Foreign);
        }
        let lifecycle = cx.aws.ecr.get_lifecycle_policy().repository_name(name).send().await;
        let lifecycle =
            absent_as_none(lifecycle, &["LifecyclePolicyNotFoundException"], "ecr:GetLifecyclePolicy", name)?
                .and_then(|l| l.lifecycle_policy_text);
        let policy = cx.aws.ecr.get_repository_policy().repository_name(name).send().await;
        let policy = absent_as_none(policy, &["RepositoryPolicyNotFoundException"], "ecr:GetRepositoryPolicy", name)?
            .and_then(|p| p.policy_text);
        Ok(Observation::Ours(Observed {
            uri: repository.repository_uri().unwrap_or_default().to_owned(),
            arn,
            scan_on_push: repository.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
            lifecycle,
            policy,
        }))
    }

    fn drift(&self, cx: &Context<'_>, observed: &Observed) -> Vec<Change> {
        let mut changes = Vec::new();
        if !observed.scan_on_push {
            changes.push(Change::ScanOnPush);
        }
        if !same_json(observed.lifecycle.as_deref(), &lifecycle_policy()) {
            changes.push(Change::Lifecycle);
        }
        if !has_our_statement(cx, observed.policy.as_deref()) {
            changes.push(Change::Policy);
        }
        changes
    }

    fn output(&self, observed: &Observed) -> String {
        observed.uri.clone()
    }

    async fn create(&self, cx: &Context<'_>) -> Result<String, Error> {
        let name = &cx.names.repository;
        let scanning = ImageScanningConfiguration::builder().scan_on_push(true).build();
        let tag = Tag::builder().key(TAG_KEY).value(cx.names.stack.as_str()).build().expect("key and value set");
        let created =
            cx.aws.ecr.create_repository().repository_name(name).image_scanning_configuration(scanning).tags(tag);
        let created = created.send().await.map_err(|e| Error::aws("ecr:CreateRepository", name, e))?;
        put(cx, &[Change::Lifecycle, Change::Policy], None).await?;
        Ok(created.repository().and_then(|r| r.repository_uri()).unwrap_or_default().to_owned())
    }

    async fn apply(&self, cx: &Context<'_>, observed: &Observed, changes: &[Change]) -> Result<(), Error> {
        put(cx, changes, observed.policy.as_deref()).await
    }

    /// Deletes the repository with every image in it.
    async fn delete(&self, cx: &Context<'_>, _observed: &Observed) -> Result<(), Error> {
        let name = &cx.names.repository;
        let deleted = cx.aws.ecr.delete_repository().repository_name(name).force(true).send().await;
        absent_as_none(deleted, &["RepositoryNotFoundException"], "ecr:DeleteRepository", name).map(drop)
    }
}

/// Sets each of `changes` as the settings want it, keeping what others put in `policy`.
async fn put(cx: &Context<'_>, changes: &[Change], policy: Option<&str>) -> Result<(), Error> {
    let (ecr, name) = (&cx.aws.ecr, &cx.names.repository);
    for change in changes {
        match change {
            Change::ScanOnPush => {
                let scanning = ImageScanningConfiguration::builder().scan_on_push(true).build();
                let put =
                    ecr.put_image_scanning_configuration().repository_name(name).image_scanning_configuration(scanning);
                put.send().await.map_err(|e| Error::aws("ecr:PutImageScanningConfiguration", name, e))?;
            }
            Change::Lifecycle => {
                let put = ecr
                    .put_lifecycle_policy()
                    .repository_name(name)
                    .lifecycle_policy_text(lifecycle_policy().to_string());
                put.send().await.map_err(|e| Error::aws("ecr:PutLifecyclePolicy", name, e))?;
            }
            Change::Policy => {
                let text = repository_policy(cx, policy).to_string();
                let put = ecr.set_repository_policy().repository_name(name).policy_text(text);
                put.send().await.map_err(|e| Error::aws("ecr:SetRepositoryPolicy", name, e))?;
            }
        }
    }
    Ok(())
}
