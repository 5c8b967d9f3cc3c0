//! The two DynamoDB tables, as the contract defines them (the definition `runtime
//! create-tables` uses too): on-demand with the configured maximum throughput, point-in-time
//! recovery as configured, TTL on the feed entries when retention is set. Settings are changed in place; `deploy` never deletes or recreates a
//! table, and refuses one whose keys differ.

use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::types::{
    BillingMode, OnDemandThroughput, PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, TableStatus, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use contract::tables::{TableSpec, tables};

use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::resource::{Observation, Resource};
use crate::stack::{TAG_KEY, is_ours};

pub const KIND: &str = "dynamodb table";
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// How long a new table's point-in-time recovery may stay unavailable before deploy gives up.
const RECOVERY_WAIT: Duration = Duration::from_secs(120);
/// How long `destroy` waits for a deleted table to be gone.
const DELETE_WAIT: Duration = Duration::from_secs(300);

/// Both tables as the runtime defines them, under the stack's names.
pub fn specs(cx: &Context<'_>) -> [Table; 2] {
    tables(&cx.names.entities_table, &cx.names.feeds_table, cx.settings.feed_ttl_days).map(Table)
}

/// One of the two tables.
pub struct Table(pub TableSpec);

#[derive(Default)]
pub struct Observed {
    /// `DELETING`: a destroy moments ago; nothing else about it is read.
    deleting: bool,
    arn: String,
    same_keys: bool,
    on_demand: bool,
    recovery: bool,
    /// The TTL attribute while TTL is enabled (or being enabled).
    ttl: Option<String>,
    /// The maximum throughput `DescribeTable` reports; `None` when it reports none at all.
    ceiling: Option<Ceiling>,
}

/// An on-demand table's maximum read and write request units per second, as the API spells
/// them: -1 for none (API reference, OnDemandThroughput: "To remove the maximum … set the value
/// … to -1").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ceiling {
    pub read: i64,
    pub write: i64,
}

impl Ceiling {
    /// The configured one (0 in the settings: none).
    pub fn configured(cx: &Context<'_>) -> Self {
        let none_if_zero = |units: i64| if units > 0 { units } else { -1 };
        Self {
            read: none_if_zero(cx.settings.table_max_read_units),
            write: none_if_zero(cx.settings.table_max_write_units),
        }
    }

    fn reported(throughput: &OnDemandThroughput) -> Self {
        // A field left out is a maximum not set.
        let units = |value: Option<i64>| value.filter(|&v| v > 0).unwrap_or(-1);
        Self { read: units(throughput.max_read_request_units()), write: units(throughput.max_write_request_units()) }
    }

    fn is_none(self) -> bool {
        self.read < 0 && self.write < 0
    }

    fn to_api(self) -> OnDemandThroughput {
        OnDemandThroughput::builder().max_read_request_units(self.read).max_write_request_units(self.write).build()
    }
}

impl fmt::Display for Ceiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = |v: i64| if v > 0 { v.to_string() } else { "none".to_owned() };
        write!(f, "maximum throughput {} read / {} write units per second", units(self.read), units(self.write))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    OnDemand,
    /// Point-in-time recovery, on or off.
    Recovery(bool),
    /// TTL, on or off.
    Ttl(bool),
    /// The on-demand maximum throughput, to this.
    Ceiling(Ceiling),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OnDemand => f.write_str("on-demand billing"),
            Self::Recovery(on) => write!(f, "point-in-time recovery {}", on_off(*on)),
            Self::Ttl(on) => write!(f, "ttl {}", on_off(*on)),
            Self::Ceiling(ceiling) => ceiling.fmt(f),
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

impl Resource for Table {
    type Observed = Observed;
    type Change = Change;
    type Output = ();

    fn kind(&self) -> &'static str {
        KIND
    }

    fn name(&self, _cx: &Context<'_>) -> String {
        self.0.name.clone()
    }

    fn id(&self, cx: &Context<'_>, observed: Option<&Observed>) -> String {
        observed.map_or_else(|| cx.table_arn(&self.0.name), |o| o.arn.clone())
    }

    fn deployed_id(&self, cx: &Context<'_>, _output: Option<&()>) -> String {
        cx.table_arn(&self.0.name)
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
        let spec = &self.0;
        let (db, name) = (&cx.aws.dynamodb, spec.name.as_str());
        let found = db.describe_table().table_name(name).send().await;
        let found = absent_as_none(found, NOT_FOUND, "dynamodb:DescribeTable", name)?;
        let Some(table) = found.and_then(|f| f.table) else { return Ok(Observation::Absent) };
        let arn = table.table_arn().unwrap_or_default().to_owned();
        if table.table_status() == Some(&TableStatus::Deleting) {
            return Ok(Observation::Ours(Observed { deleting: true, arn, ..Observed::default() }));
        }
        let tags = db.list_tags_of_resource().resource_arn(&arn).send().await;
        let tags = tags.map_err(|e| Error::aws("dynamodb:ListTagsOfResource", name, e))?;
        if !is_ours(&cx.names.stack, tags.tags().iter().map(|t| (t.key(), t.value()))) {
            return Ok(Observation::Foreign);
        }
        let backups = db.describe_continuous_backups().table_name(name).send().await;
        let backups = backups.map_err(|e| Error::aws("dynamodb:DescribeContinuousBackups", name, e))?;
        let recovery = backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            == Some(&PointInTimeRecoveryStatus::Enabled);
        let ttl = db.describe_time_to_live().table_name(name).send().await;
        let ttl = ttl.map_err(|e| Error::aws("dynamodb:DescribeTimeToLive", name, e))?;
        let ttl = ttl.time_to_live_description().and_then(|d| {
            let on = matches!(d.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
            on.then(|| d.attribute_name().unwrap_or_default().to_owned())
        });
        Ok(Observation::Ours(Observed {
            deleting: false,
            arn,
            same_keys: table.key_schema() == spec.key_schema(),
            // A table created on demand may not report a billing summary at all.
            on_demand: table
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .is_none_or(|m| *m == BillingMode::PayPerRequest),
            recovery,
            ttl,
            ceiling: table.on_demand_throughput().map(Ceiling::reported),
        }))
    }

    fn incompatible(&self, _cx: &Context<'_>, observed: &Observed) -> Option<String> {
        if observed.deleting {
            return Some("it is being deleted (a destroy moments ago): deploy again once it is gone".to_owned());
        }
        (!observed.same_keys).then(|| {
            "its keys differ from the runtime's schema, and deploy never recreates a table (it holds data)".to_owned()
        })
    }

    fn drift(&self, cx: &Context<'_>, observed: &Observed) -> Vec<Change> {
        let mut changes = Vec::new();
        if observed.deleting {
            return changes;
        }
        if !observed.on_demand {
            changes.push(Change::OnDemand);
        }
        if observed.recovery != cx.settings.point_in_time_recovery {
            changes.push(Change::Recovery(cx.settings.point_in_time_recovery));
        }
        if observed.ttl.as_deref() != self.0.ttl_attribute {
            changes.push(Change::Ttl(self.0.ttl_attribute.is_some()));
        }
        // DynamoDB reports the maximum of every on-demand table (-1 when none is set); an answer
        // without one (an emulator that keeps none) leaves the table as it was created.
        let wanted = Ceiling::configured(cx);
        if observed.ceiling.is_some_and(|seen| seen != wanted) {
            changes.push(Change::Ceiling(wanted));
        }
        changes
    }

    fn output(&self, _observed: &Observed) {}

    async fn create(&self, cx: &Context<'_>) -> Result<(), Error> {
        let spec = &self.0;
        let name = spec.name.as_str();
        let tag = Tag::builder().key(TAG_KEY).value(cx.names.stack.as_str()).build().expect("key and value set");
        let ceiling = Some(Ceiling::configured(cx)).filter(|c| !c.is_none());
        cx.aws
            .dynamodb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_on_demand_throughput(ceiling.map(Ceiling::to_api))
            .set_key_schema(Some(spec.key_schema()))
            .set_attribute_definitions(Some(spec.attribute_definitions()))
            .tags(tag)
            .send()
            .await
            .map_err(|e| Error::aws("dynamodb:CreateTable", name, e))?;
        wait_active(cx, name).await?;
        if cx.settings.point_in_time_recovery {
            set_recovery(cx, name).await?;
        }
        if spec.ttl_attribute.is_some() {
            set_ttl(cx, spec, None).await?;
        }
        Ok(())
    }

    async fn apply(&self, cx: &Context<'_>, observed: &Observed, changes: &[Change]) -> Result<(), Error> {
        let name = self.0.name.as_str();
        for change in changes {
            match change {
                Change::OnDemand => {
                    let update =
                        cx.aws.dynamodb.update_table().table_name(name).billing_mode(BillingMode::PayPerRequest);
                    update.send().await.map_err(|e| Error::aws("dynamodb:UpdateTable", name, e))?;
                    wait_active(cx, name).await?;
                }
                Change::Ceiling(ceiling) => {
                    let update = cx.aws.dynamodb.update_table().table_name(name).on_demand_throughput(ceiling.to_api());
                    update.send().await.map_err(|e| Error::aws("dynamodb:UpdateTable", name, e))?;
                    wait_active(cx, name).await?;
                }
                Change::Recovery(_) => set_recovery(cx, name).await?,
                Change::Ttl(_) => set_ttl(cx, &self.0, observed.ttl.as_deref()).await?,
            }
        }
        Ok(())
    }

    /// Deletes the table and waits until it is gone: `DeleteTable` returns while the table is
    /// still `DELETING` (API reference, DeleteTable), and a `status` or `deploy` right after
    /// would find it half there.
    async fn delete(&self, cx: &Context<'_>, observed: &Observed) -> Result<(), Error> {
        let name = self.0.name.as_str();
        if !observed.deleting {
            let deleted = cx.aws.dynamodb.delete_table().table_name(name).send().await;
            absent_as_none(deleted, NOT_FOUND, "dynamodb:DeleteTable", name)?;
        }
        wait_gone(cx, name).await
    }

    fn holds_data(&self) -> bool {
        true
    }
}

/// Until the table is `ACTIVE`, by the SDK's waiter: a table being created or updated takes no
/// other change before then.
async fn wait_active(cx: &Context<'_>, name: &str) -> Result<(), Error> {
    let waited = cx.aws.dynamodb.wait_until_table_exists().table_name(name).wait(Duration::from_secs(300)).await;
    match waited {
        Ok(_) => Ok(()),
        Err(WaiterError::ExceededMaxWait(_)) => Err(Error::NotReady(format!("table {name}"))),
        Err(error) => Err(Error::Refused(format!(
            "waiting for table {name}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(error)
        ))),
    }
}

/// Until `DescribeTable` no longer finds the table, polling each second for [`DELETE_WAIT`].
async fn wait_gone(cx: &Context<'_>, name: &str) -> Result<(), Error> {
    let deadline = Instant::now() + DELETE_WAIT;
    loop {
        let found = cx.aws.dynamodb.describe_table().table_name(name).send().await;
        if absent_as_none(found, NOT_FOUND, "dynamodb:DescribeTable", name)?.is_none() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::NotReady(format!("table {name} (still being deleted)")));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Point-in-time recovery as configured. A table created moments ago may refuse it with
/// `ContinuousBackupsUnavailableException` while its backups are being set up (API reference,
/// UpdateContinuousBackups: "Backups have not yet been enabled for this table"): retried, with
/// growing pauses, for up to [`RECOVERY_WAIT`].
async fn set_recovery(cx: &Context<'_>, name: &str) -> Result<(), Error> {
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(cx.settings.point_in_time_recovery)
        .build()
        .expect("enabled flag set");
    let update =
        cx.aws.dynamodb.update_continuous_backups().table_name(name).point_in_time_recovery_specification(spec);
    let (deadline, mut pause) = (Instant::now() + RECOVERY_WAIT, Duration::from_millis(500));
    loop {
        match update.clone().send().await {
            Ok(_) => return Ok(()),
            Err(error)
                if error.as_service_error().is_some_and(|e| e.is_continuous_backups_unavailable_exception())
                    && Instant::now() + pause < deadline =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            Err(error) => return Err(Error::aws("dynamodb:UpdateContinuousBackups", name, error)),
        }
    }
}

/// Turns TTL on (on the schema's attribute) or off (on the attribute it is on now).
async fn set_ttl(cx: &Context<'_>, spec: &TableSpec, current: Option<&str>) -> Result<(), Error> {
    let name = spec.name.as_str();
    let (enabled, attribute) = match (spec.ttl_attribute, current) {
        (Some(wanted), _) => (true, wanted),
        (None, Some(current)) => (false, current),
        (None, None) => return Ok(()),
    };
    let ttl =
        TimeToLiveSpecification::builder().enabled(enabled).attribute_name(attribute).build().expect("fields set");
    let update = cx.aws.dynamodb.update_time_to_live().table_name(name).time_to_live_specification(ttl);
    match update.send().await {
        Ok(_) => Ok(()),
        // DynamoDB takes one TTL change per table per hour ("it may take up to one hour for the
        // change to fully process. Any additional UpdateTimeToLive calls for the same table during
        // this one hour duration result in a ValidationException", API reference,
        // UpdateTimeToLive): said plainly, once, not retried.
        Err(error)
            if error
                .as_service_error()
                .and_then(|e| e.meta().message())
                .is_some_and(|m| m.contains("multiple times")) =>
        {
            Err(Error::Refused(format!(
                "the TTL of table {name} was changed less than an hour ago, and DynamoDB takes one change an hour: \
                 deploy again later"
            )))
        }
        Err(error) => Err(Error::aws("dynamodb:UpdateTimeToLive", name, error)),
    }
}
