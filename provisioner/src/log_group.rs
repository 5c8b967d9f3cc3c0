//! The stack's CloudWatch log groups — the function's, created by us rather than by Lambda on
//! first use, and the HTTP API stage's access log — so each carries the configured retention
//! from the start and `destroy` removes it.

use std::fmt;

use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::resource::{Observation, Resource};
use crate::stack::{TAG_KEY, is_ours};

pub const KIND: &str = "log group";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// One of the stack's log groups, by name.
pub struct LogGroup<'a> {
    pub name: &'a str,
}

impl<'a> LogGroup<'a> {
    /// The function's.
    pub fn function(cx: &'a Context<'_>) -> Self {
        Self { name: &cx.names.log_group }
    }

    /// The HTTP API stage's access log.
    pub fn access(cx: &'a Context<'_>) -> Self {
        Self { name: &cx.names.access_log_group }
    }
}

pub struct Observed {
    retention_days: Option<i32>,
}

/// The one thing that can differ: the retention, to this many days.
pub struct Retention(u32);

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "retention {} days", self.0)
    }
}

impl Resource for LogGroup<'_> {
    type Observed = Observed;
    type Change = Retention;
    type Output = ();

    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self, _cx: &Context<'_>) -> String {
        self.name.to_owned()
    }

    fn id(&self, cx: &Context<'_>, _observed: Option<&Observed>) -> String {
        cx.log_group_arn_of(self.name)
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
        let (logs, name) = (&cx.aws.logs, self.name);
        let found = logs.describe_log_groups().log_group_name_prefix(name).send().await;
        let found = found.map_err(|e| Error::aws("logs:DescribeLogGroups", name, e))?;
        let Some(group) = found.log_groups().iter().find(|g| g.log_group_name() == Some(name)) else {
            return Ok(Observation::Absent);
        };
        let tags = logs.list_tags_for_resource().resource_arn(cx.log_group_arn_of(name)).send().await;
        let tags = tags.map_err(|e| Error::aws("logs:ListTagsForResource", name, e))?;
        let tags = tags.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str()));
        let observed = Observed { retention_days: group.retention_in_days() };
        Ok(Observation::tagged(Some(observed), |_| is_ours(&cx.names.stack, tags)))
    }

    fn drift(&self, cx: &Context<'_>, observed: &Observed) -> Vec<Retention> {
        let wanted = cx.settings.log_retention_days;
        if observed.retention_days == Some(wanted as i32) { Vec::new() } else { vec![Retention(wanted)] }
    }

    fn output(&self, _observed: &Observed) {}

    async fn create(&self, cx: &Context<'_>) -> Result<(), Error> {
        let (logs, name) = (&cx.aws.logs, self.name);
        let created = logs.create_log_group().log_group_name(name).tags(TAG_KEY, cx.names.stack.as_str()).send().await;
        created.map_err(|e| Error::aws("logs:CreateLogGroup", name, e))?;
        put_retention(cx, self.name).await
    }

    async fn apply(&self, cx: &Context<'_>, _observed: &Observed, _changes: &[Retention]) -> Result<(), Error> {
        put_retention(cx, self.name).await
    }

    async fn delete(&self, cx: &Context<'_>, _observed: &Observed) -> Result<(), Error> {
        let name = self.name;
        let deleted = cx.aws.logs.delete_log_group().log_group_name(name).send().await;
        absent_as_none(deleted, NOT_FOUND, "logs:DeleteLogGroup", name).map(drop)
    }
}

async fn put_retention(cx: &Context<'_>, name: &str) -> Result<(), Error> {
    let put = cx
        .aws
        .logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(cx.settings.log_retention_days as i32);
    put.send().await.map_err(|e| Error::aws("logs:PutRetentionPolicy", name, e))?;
    Ok(())
}
