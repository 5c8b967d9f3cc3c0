//! The permissions boundary of the function's role: a managed policy `<stack>-boundary` that caps
//! what any role created under it may do, whatever inline policy it carries (IAM User Guide,
//! "Permissions boundaries for IAM entities": the effective permissions are the intersection).
//!
//! The documented deployer policy may create roles only with this boundary and may not write the
//! boundary itself — else a deployer could widen it and the cap would mean nothing. So the
//! boundary is written by an administrator's deploy (the first one creates it, and one after an
//! upgrade that needs more updates it), read by every deploy, and a deployer's `destroy` leaves it.

use std::fmt;

use serde_json::{Value, json};

use crate::context::{Context, same_json};
use crate::error::{Error, absent_as_none};
use crate::resource::{Observation, Resource};
use crate::role::stack_tag;
use crate::stack::is_ours;

pub const KIND: &str = "permissions boundary";
const NO_SUCH_ENTITY: &[&str] = &["NoSuchEntity", "NoSuchEntityException"];
/// IAM keeps at most five versions of a managed policy ("IAM and AWS STS quotas").
const MAX_VERSIONS: usize = 5;

/// What the function may ever do: the role's own actions on the stack's resources by name. Only
/// the WebSocket API is open to any id, as it is created and recreated by deploy while the
/// boundary stays; the role's own policy names the one API.
pub fn document(cx: &Context<'_>) -> Value {
    let tables = [cx.table_arn(&cx.names.entities_table), cx.table_arn(&cx.names.feeds_table)];
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TheStacksTables",
                "Effect": "Allow",
                "Action": contract::iam::DYNAMODB_ACTIONS,
                "Resource": tables
            },
            {
                "Sid": "TheStacksKeyRing",
                "Effect": "Allow",
                "Action": contract::iam::KEY_RING_ACTION,
                "Resource": cx.key_ring_secret_arn_pattern()
            },
            {
                "Sid": "TheStacksLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": format!("{}:*", cx.log_group_arn())
            },
            {
                "Sid": "ConnectionsOfAWebSocketApi",
                "Effect": "Allow",
                "Action": contract::iam::PUSH_ACTION,
                "Resource": cx.aws.arn("execute-api", "*/*/*/@connections/*")
            }
        ]
    })
}

pub struct Boundary;

pub struct Observed {
    document: Option<String>,
}

/// The one thing that can differ.
pub struct Document;

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("policy document")
    }
}

impl Resource for Boundary {
    type Observed = Observed;
    type Change = Document;
    type Output = ();

    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self, cx: &Context<'_>) -> String {
        cx.names.boundary.clone()
    }

    fn id(&self, cx: &Context<'_>, _observed: Option<&Observed>) -> String {
        cx.boundary_arn()
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
        let (iam, arn) = (&cx.aws.iam, cx.boundary_arn());
        let found = iam.get_policy().policy_arn(&arn).send().await;
        let found = absent_as_none(found, NO_SUCH_ENTITY, "iam:GetPolicy", &cx.names.boundary)?;
        let Some(policy) = found.and_then(|f| f.policy) else { return Ok(Observation::Absent) };
        if !is_ours(&cx.names.stack, policy.tags().iter().map(|t| (t.key(), t.value()))) {
            return Ok(Observation::Foreign);
        }
        let Some(version) = policy.default_version_id() else {
            return Ok(Observation::Ours(Observed { document: None }));
        };
        let read = iam.get_policy_version().policy_arn(&arn).version_id(version).send().await;
        let read = read.map_err(|e| Error::aws("iam:GetPolicyVersion", &cx.names.boundary, e))?;
        Ok(Observation::Ours(Observed { document: read.policy_version.and_then(|v| v.document) }))
    }

    fn drift(&self, cx: &Context<'_>, observed: &Observed) -> Vec<Document> {
        if same_json(observed.document.as_deref(), &document(cx)) { Vec::new() } else { vec![Document] }
    }

    fn output(&self, _observed: &Observed) {}

    async fn create(&self, cx: &Context<'_>) -> Result<(), Error> {
        let name = &cx.names.boundary;
        let created = cx
            .aws
            .iam
            .create_policy()
            .policy_name(name)
            .description(format!("Caps what the {} messaging function's role may do", cx.names.stack))
            .policy_document(document(cx).to_string())
            .tags(stack_tag(cx))
            .send()
            .await;
        created.map_err(|e| administrators_only(cx, Error::aws("iam:CreatePolicy", name, e)))?;
        Ok(())
    }

    /// A new default version; the oldest other one goes first when IAM's five are all kept.
    async fn apply(&self, cx: &Context<'_>, _observed: &Observed, _changes: &[Document]) -> Result<(), Error> {
        let (iam, arn, name) = (&cx.aws.iam, cx.boundary_arn(), &cx.names.boundary);
        let versions = other_versions(cx).await?;
        if versions.len() + 1 >= MAX_VERSIONS
            && let Some(oldest) = versions.first()
        {
            let deleted = iam.delete_policy_version().policy_arn(&arn).version_id(oldest).send().await;
            deleted.map_err(|e| administrators_only(cx, Error::aws("iam:DeletePolicyVersion", name, e)))?;
        }
        let created = iam
            .create_policy_version()
            .policy_arn(&arn)
            .policy_document(document(cx).to_string())
            .set_as_default(true)
            .send()
            .await;
        created.map_err(|e| administrators_only(cx, Error::aws("iam:CreatePolicyVersion", name, e)))?;
        Ok(())
    }

    /// IAM deletes a managed policy only without its other versions.
    async fn delete(&self, cx: &Context<'_>, _observed: &Observed) -> Result<(), Error> {
        let (iam, arn, name) = (&cx.aws.iam, cx.boundary_arn(), &cx.names.boundary);
        for version in other_versions(cx).await? {
            let deleted = iam.delete_policy_version().policy_arn(&arn).version_id(version).send().await;
            absent_as_none(deleted, NO_SUCH_ENTITY, "iam:DeletePolicyVersion", name)?;
        }
        let deleted = iam.delete_policy().policy_arn(&arn).send().await;
        absent_as_none(deleted, NO_SUCH_ENTITY, "iam:DeletePolicy", name).map(drop)
    }

    fn kept_when_denied(&self) -> Option<&'static str> {
        Some("kept: removing it is an administrator's (the deployer policy withholds writing the boundary)")
    }
}

/// The ids of the versions that are not the default, oldest first.
async fn other_versions(cx: &Context<'_>) -> Result<Vec<String>, Error> {
    let listed = cx.aws.iam.list_policy_versions().policy_arn(cx.boundary_arn()).send().await;
    let listed = listed.map_err(|e| Error::aws("iam:ListPolicyVersions", &cx.names.boundary, e))?;
    let mut versions: Vec<_> = listed.versions().iter().filter(|v| !v.is_default_version()).collect();
    versions.sort_by_key(|v| v.create_date().map(|d| (d.secs(), d.subsec_nanos())));
    Ok(versions.into_iter().filter_map(|v| v.version_id().map(str::to_owned)).collect())
}

/// A denied write of the boundary, said as what to do about it.
fn administrators_only(cx: &Context<'_>, error: Error) -> Error {
    match error {
        Error::AccessDenied { operation, .. } => Error::Refused(format!(
            "access denied: {operation} on the permissions boundary {}: the deployer policy withholds writing it, so \
             that no deployer can widen what the function's role may do. Deploy once with administrator \
             credentials (it creates or updates the boundary), then deploy with the deployer policy",
            cx.boundary_arn()
        )),
        other => other,
    }
}
