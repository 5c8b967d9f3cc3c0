use clap::Parser;
use runtime::config::{Cli, Command, KeysCommand, LogFormat, Settings};

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
        Command::ServerKey(args) => {
            let keys = runtime::wiring::load_keys(&Settings::resolve(args)?)?;
            let key = keys.server_key().ok_or_else(|| {
                anyhow::anyhow!("no server key: token_key is set without server_key, so the server API is closed")
            })?;
            println!("{}", key.as_str());
            Ok(())
        }
        Command::Openapi => {
            println!("{}", runtime::api::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate(args)) => {
            let settings = Settings::resolve(args)?;
            let id = runtime::wiring::rotate_keys(&settings)?;
            println!("new signing key {id}; restart the server to sign with it");
            Ok(())
        }
    }
}
