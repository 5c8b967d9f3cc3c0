//! `status`: each resource as present, missing, drifted from the settings, or foreign, in
//! dependency order (`plan::ORDER`).

use crate::context::Context;
use crate::error::Error;
use crate::plan::{self, Command};
use crate::report::Report;

pub async fn run(cx: &Context<'_>) -> Result<Report, Error> {
    plan::run(cx, &Command::Status).await
}
