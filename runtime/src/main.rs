use clap::Parser;
use runtime::config::{Cli, Command, LogFormat, Settings};

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        // CloudWatch keeps each line as one event; no ANSI colours in files.
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The Lambda service starts the binary without arguments: settings come from the environment.
    if runtime::lambda::is_lambda() {
        let settings = Settings::from_environment()?;
        init_logging(LogFormat::Json);
        return runtime::lambda::run(settings).await;
    }
    match Cli::parse().command {
        Command::Serve(args) => {
            let settings = Settings::resolve(args)?;
            init_logging(settings.log_format);
            runtime::server::serve(settings).await
        }
        Command::CreateTables(args) => {
            let settings = Settings::resolve(args)?;
            init_logging(settings.log_format);
            runtime::wiring::create_tables(&settings).await
        }
    }
}
