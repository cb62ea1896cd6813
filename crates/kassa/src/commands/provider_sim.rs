//! `kassa provider-sim`: a local upstream provider for demos and tests.

use std::time::Duration;

use anyhow::{Context, Result};
use kassa_provider_sim::{SimConfig, Simulator};

use crate::cli::ProviderSimArgs;

pub async fn run(args: ProviderSimArgs) -> Result<()> {
    let config = SimConfig {
        key: args.key.clone(),
        pending: Duration::from_secs(args.pending_secs),
        in_progress: Duration::from_secs(args.in_progress_secs),
        latency: Duration::from_millis(args.latency_ms),
        timeout: Duration::from_millis(args.timeout_ms),
        error_rate: args.error_rate,
        timeout_rate: args.timeout_rate,
        malformed_rate: args.malformed_rate,
        reset_rate: args.reset_rate,
        partial_rate: args.partial_rate,
        cancel_rate: args.cancel_rate,
        multi_status: !args.single_status,
        ..SimConfig::default()
    };
    let simulator = Simulator::start(args.listen, config).await.with_context(|| format!("binding {}", args.listen))?;
    println!("provider-sim listening on {}", simulator.url());
    println!(
        "  key: {}   request log: http://{}/requests   faults: POST http://{}/control",
        args.key, simulator.addr, simulator.addr
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
