use std::process::ExitCode;

use clap::Parser;
use contract::key_ring::Hs256Secret;
use provisioner::KeyAction;
use provisioner::cli::{Cli, Command, KeysCommand, Output, StackCommand};
use provisioner::settings::{SettingFlags, load_settings};

/// What a shell reports for a command stopped by SIGINT.
const INTERRUPTED: u8 = 130;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Smoke(args) => smoke(&cli, args).await,
        Command::CostReport(args) => cost_report(&cli, args),
        Command::Stack(command) => stack(&cli, command).await,
        Command::ServerKey => keys(&cli, KeyAction::ServerKey).await,
        Command::Keys(KeysCommand::Rotate) => keys(&cli, KeyAction::Rotate).await,
        Command::Keys(KeysCommand::Hs256Secret { clear: true }) => keys(&cli, KeyAction::SetHs256Secret(None)).await,
        Command::Keys(KeysCommand::Hs256Secret { clear: false }) => match read_hs256_secret() {
            Ok(secret) => keys(&cli, KeyAction::SetHs256Secret(Some(secret))).await,
            Err(error) => {
                eprintln!("provisioner: {error}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The HS256 secret from standard input (one line; its line break is not part of it).
fn read_hs256_secret() -> Result<Hs256Secret, String> {
    let mut text = String::new();
    std::io::stdin().read_line(&mut text).map_err(|e| format!("reading the secret from standard input: {e}"))?;
    Hs256Secret::parse(&text).map_err(|e| format!("{e} (read from standard input)"))
}

async fn keys(cli: &Cli, action: KeyAction) -> ExitCode {
    match provisioner::keys(&cli.aws, action).await {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("provisioner: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn stack(cli: &Cli, command: &StackCommand) -> ExitCode {
    let result = tokio::select! {
        result = provisioner::run(&cli.aws, command) => result,
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
            let code = provisioner::exit_code(command, &report);
            match command {
                StackCommand::Deploy(args) if args.smoke => {
                    let args = provisioner::cli::SmokeArgs { url: None, timeout_secs: 10 };
                    smoke(cli, &args).await
                }
                _ => ExitCode::from(code),
            }
        }
        Err(error) => {
            eprintln!("provisioner: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prices the workload; reads the deployment's memory, PITR and log retention from the settings.
fn cost_report(cli: &Cli, args: &cost::CostArgs) -> ExitCode {
    let report =
        load_settings(&cli.aws.config, &SettingFlags::default()).map_err(|e| e.to_string()).and_then(|deploy| {
            let report = cost::run(args, &deploy).map_err(|e| e.to_string())?;
            if let Some(path) = &args.chart {
                cost::output::chart::draw(&report, path).map_err(|e| e.to_string())?;
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

async fn smoke(cli: &Cli, args: &provisioner::cli::SmokeArgs) -> ExitCode {
    match provisioner::smoke(&cli.aws, args).await {
        Ok(report) => {
            match cli.aws.output {
                Output::Text => print!("{report}"),
                Output::Json | Output::Csv => {
                    println!("{}", serde_json::to_string_pretty(&report).expect("a serialisable report"))
                }
            }
            if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(error) => {
            eprintln!("provisioner: {error}");
            ExitCode::FAILURE
        }
    }
}
