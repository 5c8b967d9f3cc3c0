use std::process::ExitCode;

use clap::Parser;
use provisioner::cli::{Cli, Output};

/// What a shell reports for a command stopped by SIGINT.
const INTERRUPTED: u8 = 130;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::select! {
        result = provisioner::run(&cli) => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!(
                "provisioner: interrupted; what was done so far stays. Run the same command again to finish, \
                 or destroy to remove what exists"
            );
            return ExitCode::from(INTERRUPTED);
        }
    };
    match result {
        Ok(report) => {
            match cli.aws.output {
                Output::Text => print!("{report}"),
                Output::Json => println!("{}", serde_json::to_string_pretty(&report).expect("a serialisable report")),
            }
            ExitCode::from(provisioner::exit_code(&cli, &report))
        }
        Err(error) => {
            eprintln!("provisioner: {error}");
            ExitCode::FAILURE
        }
    }
}
