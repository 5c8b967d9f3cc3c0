//! The ECR repository that holds the function's image: scan on push, a lifecycle policy keeping
//! the last few images, and a repository policy that lets Lambda pull them.

use aws_sdk_ecr::types::{ImageScanningConfiguration, Tag};
use serde_json::{Value, json};

use crate::context::{Context, same_json};
use crate::error::{Error, absent_as_none};
use crate::report::{Outcome, ResourceReport, destroy_report, status_report};
use crate::stack::{TAG_KEY, is_ours};

pub const KIND: &str = "ecr repository";
/// Images kept: enough to roll back a few deploys; each is a few MB of ECR storage.
pub const KEEP_IMAGES: u32 = 5;

pub struct Observed {
    pub uri: String,
    arn: String,
    ours: bool,
    scan_on_push: bool,
    lifecycle: Option<String>,
    policy: Option<String>,
}

pub async fn observe(cx: &Context<'_>) -> Result<Option<Observed>, Error> {
    let name = &cx.names.repository;
    let found = cx.aws.ecr.describe_repositories().repository_names(name).send().await;
    let Some(found) = absent_as_none(found, &["RepositoryNotFoundException"], "ecr:DescribeRepositories", name)? else {
        return Ok(None);
    };
    let Some(repository) = found.repositories().first() else { return Ok(None) };
    let arn = repository.repository_arn().unwrap_or_default().to_owned();
    let tags = cx.aws.ecr.list_tags_for_resource().resource_arn(&arn).send().await;
    let tags = tags.map_err(|e| Error::aws("ecr:ListTagsForResource", name, e))?;
    let ours = is_ours(&cx.names.stack, tags.tags().iter().map(|t| (t.key(), t.value())));
    let lifecycle = cx.aws.ecr.get_lifecycle_policy().repository_name(name).send().await;
    let lifecycle = absent_as_none(lifecycle, &["LifecyclePolicyNotFoundException"], "ecr:GetLifecyclePolicy", name)?
        .and_then(|l| l.lifecycle_policy_text);
    let policy = cx.aws.ecr.get_repository_policy().repository_name(name).send().await;
    let policy = absent_as_none(policy, &["RepositoryPolicyNotFoundException"], "ecr:GetRepositoryPolicy", name)?
        .and_then(|p| p.policy_text);
    Ok(Some(Observed {
        uri: repository.repository_uri().unwrap_or_default().to_owned(),
        arn,
        ours,
        scan_on_push: repository.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
        lifecycle,
        policy,
    }))
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

/// Lambda pulls a function's image with the Lambda service principal; this grants it exactly the
/// two pull actions, and only on behalf of this stack's function.
fn repository_policy(cx: &Context<'_>) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "LambdaPullsTheFunctionImage",
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Condition": { "StringLike": { "aws:sourceArn": cx.function_arn() } }
        }]
    })
}

/// What differs from the desired repository, one phrase per difference.
pub fn drift(cx: &Context<'_>, observed: &Observed) -> Vec<String> {
    let mut changes = Vec::new();
    if !observed.scan_on_push {
        changes.push("scan on push".to_owned());
    }
    if !same_json(observed.lifecycle.as_deref(), &lifecycle_policy()) {
        changes.push("lifecycle policy".to_owned());
    }
    if !same_json(observed.policy.as_deref(), &repository_policy(cx)) {
        changes.push("repository policy".to_owned());
    }
    changes
}

/// Creates or updates the repository; returns its report and URI.
pub async fn deploy(cx: &Context<'_>) -> Result<(ResourceReport, String), Error> {
    let name = &cx.names.repository;
    let (outcome, uri, changes) = match observe(cx).await? {
        Some(observed) if !observed.ours => return Err(cx.foreign(KIND, name)),
        Some(observed) => {
            let changes = drift(cx, &observed);
            if !changes.is_empty() && !cx.dry_run {
                apply(cx, &changes).await?;
            }
            let outcome = cx.changed_outcome(!changes.is_empty());
            (outcome, observed.uri, changes)
        }
        None if cx.dry_run => (Outcome::WouldCreate, String::new(), Vec::new()),
        None => {
            let scanning = ImageScanningConfiguration::builder().scan_on_push(true).build();
            let tag = Tag::builder().key(TAG_KEY).value(cx.names.stack.as_str()).build().expect("key and value set");
            let created =
                cx.aws.ecr.create_repository().repository_name(name).image_scanning_configuration(scanning).tags(tag);
            let created = created.send().await.map_err(|e| Error::aws("ecr:CreateRepository", name, e))?;
            apply(cx, &["lifecycle policy".to_owned(), "repository policy".to_owned()]).await?;
            let uri = created.repository().and_then(|r| r.repository_uri()).unwrap_or_default().to_owned();
            (Outcome::Created, uri, Vec::new())
        }
    };
    Ok((ResourceReport::new(KIND, name, outcome).id(uri.clone()).changes(changes), uri))
}

async fn apply(cx: &Context<'_>, changes: &[String]) -> Result<(), Error> {
    let (ecr, name) = (&cx.aws.ecr, &cx.names.repository);
    for change in changes {
        match change.as_str() {
            "scan on push" => {
                let scanning = ImageScanningConfiguration::builder().scan_on_push(true).build();
                let put =
                    ecr.put_image_scanning_configuration().repository_name(name).image_scanning_configuration(scanning);
                put.send().await.map_err(|e| Error::aws("ecr:PutImageScanningConfiguration", name, e))?;
            }
            "lifecycle policy" => {
                let put = ecr
                    .put_lifecycle_policy()
                    .repository_name(name)
                    .lifecycle_policy_text(lifecycle_policy().to_string());
                put.send().await.map_err(|e| Error::aws("ecr:PutLifecyclePolicy", name, e))?;
            }
            _ => {
                let put =
                    ecr.set_repository_policy().repository_name(name).policy_text(repository_policy(cx).to_string());
                put.send().await.map_err(|e| Error::aws("ecr:SetRepositoryPolicy", name, e))?;
            }
        }
    }
    Ok(())
}

pub async fn status(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    let observed = observe(cx).await?.map(|o| (o.ours, drift(cx, &o), o.arn));
    Ok(status_report(KIND, &cx.names.repository, observed))
}

/// Deletes the repository with every image in it.
pub async fn destroy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    let name = &cx.names.repository;
    let ours = observe(cx).await?.map(|o| o.ours);
    destroy_report(KIND, name, ours, async {
        let deleted = cx.aws.ecr.delete_repository().repository_name(name).force(true).send().await;
        absent_as_none(deleted, &["RepositoryNotFoundException"], "ecr:DeleteRepository", name).map(drop)
    })
    .await
}
