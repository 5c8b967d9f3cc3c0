//! `deploy`: every resource in dependency order (`plan::ORDER`), each created, updated
//! or left unchanged.

use crate::cli::DeployArgs;
use crate::context::Context;
use crate::error::Error;
use crate::image::Image;
use crate::plan::{self, Command};
use crate::report::Report;

pub async fn run(cx: &Context<'_>, args: &DeployArgs) -> Result<Report, Error> {
    // First, so a binary that cannot be shipped stops the deploy before anything is created.
    let image = Image::build(&args.binary, args.ca_bundle.as_deref())?;
    plan::run(cx, &Command::Deploy { image: &image }).await
}
