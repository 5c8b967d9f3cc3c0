//! One state machine for every resource of the stack: observe it, and then — by the command —
//! report it (`status`), create it or apply what differs (`deploy`, or say what would happen in a
//! dry run), or delete it (`destroy`). Each resource says only how to observe, compare, create,
//! change and delete itself; what it found that differs is a typed change, never a phrase that
//! is matched again, so rewording a report cannot change what deploy does.

use std::fmt;

use crate::context::Context;
use crate::error::Error;
use crate::report::{Outcome, ResourceReport};

/// A resource with the stack's name, as found.
pub enum Observation<T> {
    Absent,
    /// Carries the stack's name but not its tag: never touched.
    Foreign,
    Ours(T),
}

impl<T> Observation<T> {
    /// What was found, by whether its tags mark it as the stack's.
    pub fn tagged(found: Option<T>, ours: impl FnOnce(&T) -> bool) -> Self {
        match found {
            None => Self::Absent,
            Some(found) if ours(&found) => Self::Ours(found),
            Some(_) => Self::Foreign,
        }
    }
}

pub trait Resource {
    type Observed;
    /// One difference from the settings, shown in reports by its `Display`.
    type Change: fmt::Display;
    /// What later steps need from it (the repository's URI, the function's image).
    type Output;

    fn kind(&self) -> &'static str;
    fn name(&self, cx: &Context<'_>) -> String;
    /// Its identifier in reports (an ARN).
    fn id(&self, cx: &Context<'_>, observed: Option<&Self::Observed>) -> String;
    /// Its identifier in deploy's report, from what deploy produced (`None` in a dry run).
    fn deployed_id(&self, cx: &Context<'_>, _output: Option<&Self::Output>) -> String {
        self.id(cx, None)
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Self::Observed>, Error>;
    /// A difference AWS cannot change in place, which deploy refuses to paper over.
    fn incompatible(&self, _cx: &Context<'_>, _observed: &Self::Observed) -> Option<String> {
        None
    }
    fn drift(&self, cx: &Context<'_>, observed: &Self::Observed) -> Vec<Self::Change>;
    fn output(&self, observed: &Self::Observed) -> Self::Output;

    async fn create(&self, cx: &Context<'_>) -> Result<Self::Output, Error>;
    async fn apply(&self, cx: &Context<'_>, observed: &Self::Observed, changes: &[Self::Change]) -> Result<(), Error>;
    async fn delete(&self, cx: &Context<'_>, observed: &Self::Observed) -> Result<(), Error>;
    /// What `destroy` reports when deleting it is denied on purpose, if it is kept then rather
    /// than failing (the permissions boundary, which the deployer policy withholds).
    fn kept_when_denied(&self) -> Option<&'static str> {
        None
    }
    /// Whether `destroy --keep-data` leaves it (the tables).
    fn holds_data(&self) -> bool {
        false
    }
}

/// What a command does with each resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Create or update (or, in a dry run, say which).
    Deploy,
    Status,
    Destroy {
        keep_data: bool,
    },
}

/// A resource's report, and its output where deploy or status produced one.
pub struct Reconciled<T> {
    pub report: ResourceReport,
    pub output: Option<T>,
}

/// Observes `resource` and does what `mode` asks of it.
pub async fn reconcile<R: Resource>(
    cx: &Context<'_>,
    resource: &R,
    mode: Mode,
) -> Result<Reconciled<R::Output>, Error> {
    let (kind, name) = (resource.kind(), resource.name(cx));
    let observed = resource.observe(cx).await?;
    let report = |outcome| ResourceReport::new(kind, &name, outcome);
    let done = |report, output| Ok(Reconciled { report, output });
    match (mode, observed) {
        (Mode::Status, Observation::Absent) => done(report(Outcome::Missing), None),
        (Mode::Status, Observation::Foreign) => done(report(Outcome::Foreign), None),
        (Mode::Status, Observation::Ours(o)) => {
            let mut changes: Vec<String> = resource.incompatible(cx, &o).into_iter().collect();
            changes.extend(resource.drift(cx, &o).iter().map(ToString::to_string));
            let outcome = if changes.is_empty() { Outcome::Present } else { Outcome::Drifted };
            done(report(outcome).id(resource.id(cx, Some(&o))).changes(changes), Some(resource.output(&o)))
        }
        (Mode::Destroy { .. }, Observation::Absent) => done(report(Outcome::Absent), None),
        (Mode::Destroy { .. }, Observation::Foreign) => done(report(Outcome::Foreign), None),
        (Mode::Destroy { keep_data }, Observation::Ours(_)) if keep_data && resource.holds_data() => {
            done(report(Outcome::Kept), None)
        }
        (Mode::Destroy { .. }, Observation::Ours(o)) => {
            match (resource.delete(cx, &o).await, resource.kept_when_denied()) {
                (Ok(()), _) => done(report(Outcome::Deleted), None),
                (Err(Error::AccessDenied { .. }), Some(why)) => {
                    done(report(Outcome::Kept).changes(vec![why.to_owned()]), None)
                }
                (Err(other), _) => Err(other),
            }
        }
        (Mode::Deploy, Observation::Foreign) => Err(cx.foreign(kind, &name)),
        (Mode::Deploy, Observation::Absent) if cx.dry_run => {
            done(report(Outcome::WouldCreate).id(resource.deployed_id(cx, None)), None)
        }
        (Mode::Deploy, Observation::Absent) => {
            let output = resource.create(cx).await?;
            done(report(Outcome::Created).id(resource.deployed_id(cx, Some(&output))), Some(output))
        }
        (Mode::Deploy, Observation::Ours(o)) => {
            if let Some(why) = resource.incompatible(cx, &o) {
                return Err(Error::Incompatible { kind, name, why });
            }
            let changes = resource.drift(cx, &o);
            if !changes.is_empty() && !cx.dry_run {
                resource.apply(cx, &o, &changes).await?;
            }
            let outcome = cx.changed_outcome(!changes.is_empty());
            let changes = changes.iter().map(ToString::to_string).collect();
            let output = resource.output(&o);
            done(report(outcome).id(resource.deployed_id(cx, Some(&output))).changes(changes), Some(output))
        }
    }
}
