use std::process::ExitCode;

use clap::Parser;
use provisioner::cli::{Cli, Command, Output};
use provisioner::cost::{self, CostArgs};
use provisioner::settings::{DeploySettings, SettingFlags};

/// What a shell reports for a command stopped by SIGINT.
const INTERRUPTED: u8 = 130;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::CostReport(args) = &cli.command {
        return cost_report(&cli, args);
    }
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
                // `run` refuses CSV for the stack commands before doing anything.
                Output::Json | Output::Csv => {
                    println!("{}", serde_json::to_string_pretty(&report).expect("a serialisable report"))
                }
            }
            ExitCode::from(provisioner::exit_code(&cli, &report))
        }
        Err(error) => {
            eprintln!("provisioner: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prices the workload; reads the deployment's memory, PITR and log retention from the settings.
fn cost_report(cli: &Cli, args: &CostArgs) -> ExitCode {
    let report =
        DeploySettings::load(&cli.aws.config).and_then(|s| s.apply(&SettingFlags::default())).and_then(|deploy| {
            let report = cost::run(args, &deploy)?;
            if let Some(path) = &args.chart {
                cost::chart::draw(&report, path)?;
            }
            Ok(report)
        });
    match report {
        Ok(report) => {
            match (cli.aws.output, args.explain) {
                (Output::Text, Some(users)) => print!("{}", cost::output::explain(&report, users)),
                (Output::Text, None) => print!("{}", cost::output::text(&report)),
                (Output::Json, _) => {
                    println!("{}", serde_json::to_string_pretty(&report).expect("a serialisable report"))
                }
                (Output::Csv, _) => print!("{}", cost::output::csv(&report)),
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("provisioner: {error}");
            ExitCode::FAILURE
        }
    }
}
