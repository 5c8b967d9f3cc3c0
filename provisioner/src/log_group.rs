//! The function's CloudWatch log group, created by us rather than by Lambda on first use, so it
//! carries the configured retention from the start and `destroy` removes it.

use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::report::{Outcome, ResourceReport, destroy_report, status_report};
use crate::stack::{TAG_KEY, is_ours};

pub const KIND: &str = "log group";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

struct Observed {
    ours: bool,
    retention_days: Option<i32>,
}

async fn observe(cx: &Context<'_>) -> Result<Option<Observed>, Error> {
    let (logs, name) = (&cx.aws.logs, &cx.names.log_group);
    let found = logs.describe_log_groups().log_group_name_prefix(name).send().await;
    let found = found.map_err(|e| Error::aws("logs:DescribeLogGroups", name, e))?;
    let Some(group) = found.log_groups().iter().find(|g| g.log_group_name() == Some(name.as_str())) else {
        return Ok(None);
    };
    let tags = logs.list_tags_for_resource().resource_arn(cx.log_group_arn()).send().await;
    let tags = tags.map_err(|e| Error::aws("logs:ListTagsForResource", name, e))?;
    let ours = is_ours(&cx.names.stack, tags.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(Some(Observed { ours, retention_days: group.retention_in_days() }))
}

fn drift(cx: &Context<'_>, observed: &Observed) -> Vec<String> {
    let wanted = cx.settings.log_retention_days as i32;
    if observed.retention_days == Some(wanted) { Vec::new() } else { vec![format!("retention {wanted} days")] }
}

pub async fn deploy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    let (logs, name) = (&cx.aws.logs, &cx.names.log_group);
    let (outcome, changes) = match observe(cx).await? {
        Some(observed) if !observed.ours => return Err(cx.foreign(KIND, name)),
        Some(observed) => {
            let changes = drift(cx, &observed);
            if !changes.is_empty() && !cx.dry_run {
                put_retention(cx).await?;
            }
            (cx.changed_outcome(!changes.is_empty()), changes)
        }
        None if cx.dry_run => (Outcome::WouldCreate, Vec::new()),
        None => {
            let created =
                logs.create_log_group().log_group_name(name).tags(TAG_KEY, cx.names.stack.as_str()).send().await;
            created.map_err(|e| Error::aws("logs:CreateLogGroup", name, e))?;
            put_retention(cx).await?;
            (Outcome::Created, Vec::new())
        }
    };
    Ok(ResourceReport::new(KIND, name, outcome).id(cx.log_group_arn()).changes(changes))
}

async fn put_retention(cx: &Context<'_>) -> Result<(), Error> {
    let name = &cx.names.log_group;
    let put = cx
        .aws
        .logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(cx.settings.log_retention_days as i32);
    put.send().await.map_err(|e| Error::aws("logs:PutRetentionPolicy", name, e))?;
    Ok(())
}

pub async fn status(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    let observed = observe(cx).await?.map(|o| (o.ours, drift(cx, &o), cx.log_group_arn()));
    Ok(status_report(KIND, &cx.names.log_group, observed))
}

pub async fn destroy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    let name = &cx.names.log_group;
    let ours = observe(cx).await?.map(|o| o.ours);
    destroy_report(KIND, name, ours, async {
        let deleted = cx.aws.logs.delete_log_group().log_group_name(name).send().await;
        absent_as_none(deleted, NOT_FOUND, "logs:DeleteLogGroup", name).map(drop)
    })
    .await
}
