//! `destroy`: every resource of the stack in reverse dependency order (`plan::ORDER`),
//! from any partial state.
//! Resources that carry the stack's name but not its tag are never touched.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::DestroyArgs;
use crate::context::Context;
use crate::error::Error;
use crate::plan::{self, Command};
use crate::report::Report;

pub async fn run(cx: &Context<'_>, args: &DestroyArgs) -> Result<Report, Error> {
    confirm(cx, args)?;
    plan::run(cx, &Command::Destroy { keep_data: args.keep_data }).await
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
