//! `kassa serve`: bind, optionally seed the demo, serve until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use kassa_server::{AppState, ServerConfig};

use crate::cli::ServeArgs;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: ServeArgs) -> Result<()> {
    let defaults = ServerConfig::default();
    let config = ServerConfig {
        listen: args.listen.or(settings.file.listen).unwrap_or(defaults.listen),
        trusted_proxies: if args.trusted_proxies.is_empty() {
            settings.file.trusted_proxies.clone().unwrap_or_default()
        } else {
            args.trusted_proxies.clone()
        },
        request_timeout: args
            .request_timeout_secs
            .or(settings.file.request_timeout_secs)
            .map(Duration::from_secs)
            .unwrap_or(defaults.request_timeout),
        redis_url: args.redis_url.clone().or_else(|| settings.file.redis_url.clone()),
        provider_timeout: Duration::from_millis(args.background.provider_timeout_ms.max(100)),
        webhook_allow_private: args.background.webhook_allow_private,
        order_replay_guard: args.order_replay_guard,
        auth_failures_per_minute: args.auth_failures_per_minute,
        profile_timestamp_window: args
            .profile_timestamp_window_secs
            .or(settings.file.profile_timestamp_window_secs)
            .map(Duration::from_secs)
            .unwrap_or(defaults.profile_timestamp_window),
        ..defaults
    };
    anyhow::ensure!(
        !config.profile_timestamp_window.is_zero(),
        "profile_timestamp_window_secs must be at least 1: with 0 no signed profile request could pass"
    );
    let currency = settings.currency(args.currency.as_deref(), args.currency_decimals)?;
    let vault = settings.vault()?;
    let store = settings.open_store(currency).await?;

    let listener = kassa_server::listen(config.listen).with_context(|| format!("binding {}", config.listen))?;
    let address: SocketAddr = listener.local_addr()?;
    if args.demo {
        let provider = args.demo_provider_url.as_deref().map(|url| (url, args.demo_provider_key.as_str()));
        super::demo::seed(store.as_ref(), &vault, address, provider).await.context("seeding the demo")?;
    }

    println!("database: {}", store.describe());
    match &config.redis_url {
        Some(url) => println!("rate limits: cluster-wide through {}", crate::settings::redact_url(url)),
        None => println!("rate limits: per process (no --redis-url)"),
    }
    println!("kassa listening on http://{address}");
    tracing::info!(%address, database = %store.describe(), "kassa serving");

    let background = match args.no_worker {
        true => {
            println!("background work: off (--no-worker); run `kassa worker` somewhere");
            None
        }
        false => Some(super::background::Background::start(store.clone(), vault.clone(), &args.background)?),
    };
    let state = AppState::new(store, vault, config).map_err(anyhow::Error::msg)?;
    kassa_server::serve(listener, state, shutdown_signal()).await.context("serving HTTP")?;
    if let Some(background) = background {
        background.stop().await;
    }
    tracing::info!("kassa stopped");
    Ok(())
}

pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
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
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in progress");
}
