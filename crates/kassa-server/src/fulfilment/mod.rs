//! Order fulfilment through upstream providers: the `smm-v2` connector, the registry of
//! providers, and the worker that submits and polls.

pub mod providers;
pub mod smm_v2;
pub mod worker;

pub use providers::{ProviderError, Providers};
pub use worker::WorkerConfig;

/// How long work waiting on a provider holds its claim (a submission, a status check, a refill
/// reservation) before another node may take it over: longer than the slowest provider call, so a
/// slow answer is not taken for a vanished node.
pub fn lease_for(provider_timeout: std::time::Duration) -> std::time::Duration {
    provider_timeout * 2 + std::time::Duration::from_secs(10)
}
