//! What every handler can reach.

use std::sync::Arc;

use kassa_core::crypto::Vault;
use kassa_store::Store;
use tokio::sync::Semaphore;

use crate::config::ServerConfig;
use crate::fulfilment::Providers;
use crate::inflight::InFlight;
use crate::ratelimit::RateLimiter;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub vault: Vault,
    pub limiter: RateLimiter,
    /// Client addresses that keep failing authentication (see `ratelimit::AuthFailures`).
    pub auth_failures: crate::ratelimit::AuthFailures,
    pub inflight: InFlight,
    pub config: ServerConfig,
    /// The `profile/verify` upload budget, one permit per KiB (see
    /// [`ServerConfig::profile_verify_inflight`]).
    pub verify_budget: Arc<Semaphore>,
    /// Signatures of order requests in flight or that placed no order (see `inflight`).
    pub spent_signatures: crate::inflight::SpentSignatures,
    /// Work a request starts that must finish even if its client leaves (a refill being asked
    /// for and recorded); [`crate::serve`] waits for it at shutdown.
    pub detached: tokio_util::task::TaskTracker,
    /// Each customer's turn for a `profile/verify` upload: one at a time.
    pub verify_uploads: crate::inflight::UploadTurns,
    /// Connectors to upstream providers (customer cancel and refill requests use them).
    pub providers: Arc<Providers>,
    /// API secrets already opened, with the sealed value they came from (see `auth::find_key`).
    pub secrets: crate::auth::SecretCache,
}

impl AppState {
    /// Fails only on a malformed Redis URL; an unreachable Redis is tolerated (see `ratelimit`).
    pub fn new(store: Arc<dyn Store>, vault: Vault, config: ServerConfig) -> Result<Self, String> {
        let limiter = match &config.redis_url {
            Some(url) => RateLimiter::with_redis(url)?,
            None => RateLimiter::new(),
        };
        let verify_budget = Arc::new(Semaphore::new(crate::auth::profile::budget_permits(&config) as usize));
        let providers = Arc::new(Providers::new(
            store.clone(),
            vault.clone(),
            config.provider_connect_timeout,
            config.provider_timeout,
        ));
        Ok(Self(Arc::new(Inner {
            store,
            vault,
            limiter,
            auth_failures: crate::ratelimit::AuthFailures::new(config.auth_failures_per_minute),
            inflight: InFlight::default(),
            config,
            verify_budget,
            spent_signatures: Default::default(),
            detached: Default::default(),
            verify_uploads: Default::default(),
            providers,
            secrets: Default::default(),
        })))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
