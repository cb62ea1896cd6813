//! Order fulfilment through upstream providers: the `smm-v2` connector, the registry of
//! providers, and the worker that submits and polls.

pub mod providers;
pub mod smm_v2;
pub mod worker;

pub use providers::{ProviderError, Providers};
pub use worker::WorkerConfig;
