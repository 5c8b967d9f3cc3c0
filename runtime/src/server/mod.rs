//! Runs the API locally: listener, connection limits, graceful shutdown (the store and the key
//! come from [`crate::wiring`]).

mod activity;
mod connections;
mod demo;
mod file_limit;

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

pub use self::connections::ConnectionLimits;
use crate::api::app_with;
use crate::api::rate_limit::RateLimiter;
use crate::config::Settings;
use crate::wiring::open_state;

/// `runtime serve`: prints `listening on http://ADDR` once it accepts connections.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Checked before anything opens: a demo without its built client is a start-up error.
    let demo = if settings.demo { Some(demo::routes(&settings.demo_dir)?) } else { None };
    let state = open_state(&settings).await?;
    if let Some(limiter) = state.rate_limiter.clone() {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RateLimiter::SWEEP_EVERY);
            loop {
                every.tick().await;
                limiter.forget_idle();
            }
        });
    }
    let listener = TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, data_dir = %settings.data_dir.display(), "serving");
    // On stdout, unadorned, so scripts and tests can read the port when listening on port 0.
    println!("listening on http://{address}");
    let limits = ConnectionLimits {
        header_read: Duration::from_secs(settings.header_read_timeout_secs),
        idle: Duration::from_secs(settings.idle_timeout_secs),
        max_connections: file_limit::connection_cap(settings.max_connections),
    };
    let trusted = settings.trusted_proxies()?.into();
    let router = app_with(state, demo.unwrap_or_default());
    connections::serve(listener, router, limits, trusted, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
