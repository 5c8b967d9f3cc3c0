//! The function's IAM role, least privilege: the store's DynamoDB actions on the stack's two
//! tables, reading the stack's own key ring secret, writing to the stack's own log group, and posting to the connections of the stack's
//! own WebSocket API stage. Nothing else, and no `*` in place of a resource's name. It is created
//! under the stack's permissions boundary (`boundary.rs`), which the deployer policy requires.

use std::fmt;

use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};

use crate::context::{Context, same_json};
use crate::error::{Error, absent_as_none};
use crate::resource::{Observation, Resource};
use crate::stack::{TAG_KEY, is_ours};

pub const KIND: &str = "iam role";
const NO_SUCH_ENTITY: &[&str] = &["NoSuchEntity", "NoSuchEntityException"];

pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

pub fn permissions_policy(cx: &Context<'_>) -> Value {
    let tables = [cx.table_arn(&cx.names.entities_table), cx.table_arn(&cx.names.feeds_table)];
    let mut policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TheStoreOnTheStacksTables",
                "Effect": "Allow",
                "Action": contract::iam::DYNAMODB_ACTIONS,
                "Resource": tables
            },
            {
                "Sid": "ItsOwnKeyRing",
                "Effect": "Allow",
                "Action": contract::iam::KEY_RING_ACTION,
                "Resource": cx.key_ring_secret_arn_pattern()
            },
            {
                "Sid": "LogsToItsOwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": format!("{}:*", cx.log_group_arn())
            }
        ]
    });
    if let Some(connections) = cx.manage_connections_arns() {
        let push = json!({
            "Sid": "PushToItsOwnWebSocketApi",
            "Effect": "Allow",
            "Action": contract::iam::PUSH_ACTION,
            "Resource": connections
        });
        policy["Statement"].as_array_mut().expect("a list of statements").push(push);
    }
    policy
}

pub struct Role;

pub struct Observed {
    arn: String,
    trust: Option<String>,
    policy: Option<String>,
    boundary: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Trust,
    Permissions,
    Boundary,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Trust => "trust policy",
            Self::Permissions => "permissions policy",
            Self::Boundary => "permissions boundary",
        })
    }
}

impl Resource for Role {
    type Observed = Observed;
    type Change = Change;
    type Output = ();

    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self, cx: &Context<'_>) -> String {
        cx.names.role.clone()
    }

    fn id(&self, cx: &Context<'_>, observed: Option<&Observed>) -> String {
        observed.map_or_else(|| cx.role_arn(), |o| o.arn.clone())
    }

    fn deployed_id(&self, cx: &Context<'_>, _output: Option<&()>) -> String {
        cx.role_arn()
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
        let (iam, name) = (&cx.aws.iam, &cx.names.role);
        let found = absent_as_none(iam.get_role().role_name(name).send().await, NO_SUCH_ENTITY, "iam:GetRole", name)?;
        let Some(role) = found.and_then(|f| f.role) else { return Ok(Observation::Absent) };
        let tags =
            iam.list_role_tags().role_name(name).send().await.map_err(|e| Error::aws("iam:ListRoleTags", name, e))?;
        if !is_ours(&cx.names.stack, tags.tags().iter().map(|t| (t.key(), t.value()))) {
            return Ok(Observation::Foreign);
        }
        let policy = iam.get_role_policy().role_name(name).policy_name(&cx.names.role_policy).send().await;
        let policy = absent_as_none(policy, NO_SUCH_ENTITY, "iam:GetRolePolicy", name)?.map(|p| p.policy_document);
        let boundary = role.permissions_boundary.and_then(|b| b.permissions_boundary_arn);
        Ok(Observation::Ours(Observed { arn: role.arn, trust: role.assume_role_policy_document, policy, boundary }))
    }

    fn drift(&self, cx: &Context<'_>, observed: &Observed) -> Vec<Change> {
        let mut changes = Vec::new();
        // First: under the deployer policy, the role's other policies may be written only once
        // it has the boundary.
        if observed.boundary.as_deref() != Some(cx.boundary_arn().as_str()) {
            changes.push(Change::Boundary);
        }
        if !same_json(observed.trust.as_deref(), &trust_policy()) {
            changes.push(Change::Trust);
        }
        if !same_json(observed.policy.as_deref(), &permissions_policy(cx)) {
            changes.push(Change::Permissions);
        }

        changes
    }

    fn output(&self, _observed: &Observed) {}

    async fn create(&self, cx: &Context<'_>) -> Result<(), Error> {
        let (iam, name) = (&cx.aws.iam, &cx.names.role);
        iam.create_role()
            .role_name(name)
            .description(format!("Runs the {} messaging function", cx.names.stack))
            .assume_role_policy_document(trust_policy().to_string())
            .permissions_boundary(cx.boundary_arn())
            .tags(stack_tag(cx))
            .send()
            .await
            .map_err(|e| Error::aws("iam:CreateRole", name, e))?;
        put_policy(cx).await
    }

    async fn apply(&self, cx: &Context<'_>, _observed: &Observed, changes: &[Change]) -> Result<(), Error> {
        let (iam, name) = (&cx.aws.iam, &cx.names.role);
        for change in changes {
            match change {
                Change::Trust => {
                    let update =
                        iam.update_assume_role_policy().role_name(name).policy_document(trust_policy().to_string());
                    update.send().await.map_err(|e| Error::aws("iam:UpdateAssumeRolePolicy", name, e))?;
                }
                Change::Permissions => put_policy(cx).await?,
                Change::Boundary => {
                    let put =
                        iam.put_role_permissions_boundary().role_name(name).permissions_boundary(cx.boundary_arn());
                    put.send().await.map_err(|e| Error::aws("iam:PutRolePermissionsBoundary", name, e))?;
                }
            }
        }
        Ok(())
    }

    /// IAM refuses to delete a role that still has policies: inline ones are deleted and attached
    /// ones detached first.
    async fn delete(&self, cx: &Context<'_>, _observed: &Observed) -> Result<(), Error> {
        let (iam, name) = (&cx.aws.iam, &cx.names.role);
        let inline = iam.list_role_policies().role_name(name).send().await;
        for policy in inline.map_err(|e| Error::aws("iam:ListRolePolicies", name, e))?.policy_names() {
            let deleted = iam.delete_role_policy().role_name(name).policy_name(policy).send().await;
            absent_as_none(deleted, NO_SUCH_ENTITY, "iam:DeleteRolePolicy", name)?;
        }
        let attached = iam.list_attached_role_policies().role_name(name).send().await;
        let attached = attached.map_err(|e| Error::aws("iam:ListAttachedRolePolicies", name, e))?;
        for policy in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
            let detached = iam.detach_role_policy().role_name(name).policy_arn(policy).send().await;
            absent_as_none(detached, NO_SUCH_ENTITY, "iam:DetachRolePolicy", name)?;
        }
        absent_as_none(iam.delete_role().role_name(name).send().await, NO_SUCH_ENTITY, "iam:DeleteRole", name).map(drop)
    }
}

/// The stack's tag as IAM takes it (roles and managed policies alike).
pub fn stack_tag(cx: &Context<'_>) -> Tag {
    Tag::builder().key(TAG_KEY).value(cx.names.stack.as_str()).build().expect("key and value set")
}

async fn put_policy(cx: &Context<'_>) -> Result<(), Error> {
    let (iam, name) = (&cx.aws.iam, &cx.names.role);
    iam.put_role_policy()
        .role_name(name)
        .policy_name(&cx.names.role_policy)
        .policy_document(permissions_policy(cx).to_string())
        .send()
        .await
        .map_err(|e| Error::aws("iam:PutRolePolicy", name, e))?;
    Ok(())
}
