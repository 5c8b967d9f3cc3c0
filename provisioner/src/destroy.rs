//! `destroy`: every resource of the stack in reverse dependency order, from any partial state.
//! Resources that carry the stack's name but not its tag are never touched.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::DestroyArgs;
use crate::context::Context;
use crate::error::Error;
use crate::report::{Progress, Report};
use crate::{function, http_api, log_group, repository, role, tables, websocket_api};

pub async fn run(cx: &Context<'_>, args: &DestroyArgs) -> Result<Report, Error> {
    confirm(cx, args)?;
    let names = cx.names;
    let progress = Progress::default();
    progress.report(websocket_api::KIND, &names.websocket_api, websocket_api::destroy(cx)).await?;
    progress.report(http_api::KIND, &names.http_api, http_api::destroy(cx)).await?;
    progress.report(function::KIND, &names.function, function::destroy(cx)).await?;
    progress.report(log_group::KIND, &names.log_group, log_group::destroy(cx)).await?;
    for spec in tables::specs(cx) {
        progress.report(tables::KIND, &spec.name, tables::destroy(cx, &spec, args.keep_data)).await?;
    }
    progress.report(role::KIND, &names.role, role::destroy(cx)).await?;
    progress.report(repository::KIND, &names.repository, repository::destroy(cx)).await?;
    Ok(progress.finish(names.stack.as_str(), None, None))
}

/// On a terminal, the operator types the stack name; without one, only `--yes` proceeds.
fn confirm(cx: &Context<'_>, args: &DestroyArgs) -> Result<(), Error> {
    if args.yes {
        return Ok(());
    }
    let stack = cx.names.stack.as_str();
    if !std::io::stdin().is_terminal() {
        return Err(Error::Refused(format!(
            "destroy deletes stack '{stack}'{}; without a terminal to confirm on, pass --yes",
            if args.keep_data { "" } else { " and its data" }
        )));
    }
    let data = if args.keep_data { "keeping the tables" } else { "tables and all their data included" };
    eprint!("This deletes every resource of stack '{stack}' ({data}). Type the stack name to confirm: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| Error::Refused(format!("no confirmation: {e}")))?;
    if answer.trim() == stack { Ok(()) } else { Err(Error::Refused("not confirmed: nothing was deleted".into())) }
}
