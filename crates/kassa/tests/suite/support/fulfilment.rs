//! Fulfilment in tests: a real provider simulator on loopback, real workers and webhook
//! dispatchers running against the test's store, all with short timings.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kassa_core::catalog::ServiceKind;
use kassa_provider_sim::{SimConfig, Simulator};
use kassa_server::fulfilment::providers::key_context;
use kassa_server::fulfilment::{Providers, WorkerConfig};
use kassa_server::webhooks::WebhookConfig;
use kassa_store::{NewProvider, ProviderKind, ProviderRecord, ServicePatch, ServiceRecord};
use tokio::sync::watch;

use super::{Account, Backend, TestServer};

pub const SIM_KEY: &str = "sim-key";

/// A simulator whose orders finish within a fraction of a second.
pub async fn quick_simulator() -> Simulator {
    let config = SimConfig {
        key: SIM_KEY.into(),
        pending: Duration::from_millis(100),
        in_progress: Duration::from_millis(150),
        timeout: Duration::from_secs(5),
        ..SimConfig::default()
    };
    Simulator::start("127.0.0.1:0".parse().unwrap(), config).await.expect("start the provider simulator")
}

/// Worker timings for tests: everything in tens of milliseconds.
pub fn quick_worker() -> WorkerConfig {
    WorkerConfig {
        tick: Duration::from_millis(25),
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(3),
        retry_base: Duration::from_millis(50),
        retry_cap: Duration::from_millis(200),
        max_attempts: 3,
        ..WorkerConfig::default()
    }
}

pub fn quick_webhooks(schedule_ms: &[u64]) -> WebhookConfig {
    WebhookConfig {
        schedule: schedule_ms.iter().map(|ms| Duration::from_millis(*ms)).collect(),
        timeout: Duration::from_secs(2),
        allow_private: true,
        tick: Duration::from_millis(25),
        batch: 50,
    }
}

/// Where most fulfilment tests start: a server, the simulator `sim` registered as provider
/// `sim`, a service it fulfils as its service "1", and a customer with 10.00 in the wallet.
pub struct Shop {
    pub server: TestServer,
    pub sim: Simulator,
    pub service: ServiceRecord,
    pub account: Account,
}

impl Shop {
    /// Opens a shop selling at `price` per 1,000 through `sim`.
    pub async fn open(backend: Backend, sim: Simulator, price: &str) -> Self {
        let server = TestServer::start(backend).await;
        let service = server.simulated_service(&sim, "1", price).await;
        let account = server.customer("10.00").await;
        Self { server, sim, service, account }
    }
}

impl TestServer {
    /// A service the simulator fulfils as its service `provider_service`, through a provider
    /// registered as `sim`.
    pub async fn simulated_service(&self, sim: &Simulator, provider_service: &str, price: &str) -> ServiceRecord {
        let provider = self.provider("sim", &sim.url()).await;
        self.provided_service(&provider, provider_service, price).await
    }

    /// Registers an smm-v2 provider at `url` (with the simulator's key).
    pub async fn provider(&self, name: &str, url: &str) -> ProviderRecord {
        self.store
            .create_provider(NewProvider {
                name: name.into(),
                kind: ProviderKind::SmmV2,
                url: Some(url.into()),
                key_sealed: Some(self.vault.seal(SIM_KEY.as_bytes(), &key_context(name))),
            })
            .await
            .expect("create provider")
    }

    /// A service fulfilled by `provider` as its service `provider_service`, that customers may
    /// cancel and refill.
    pub async fn provided_service(
        &self,
        provider: &ProviderRecord,
        provider_service: &str,
        price: &str,
    ) -> ServiceRecord {
        let service = self.service(ServiceKind::Default, price, 1, 100_000).await;
        self.store
            .update_service(
                service.id,
                ServicePatch {
                    provider: Some(Some((provider.id, provider_service.into()))),
                    cancel_allowed: Some(true),
                    refill_allowed: Some(true),
                    ..Default::default()
                },
            )
            .await
            .expect("map the service to its provider")
    }

    /// Starts a fulfilment worker; it runs until the returned handle is stopped or dropped.
    pub fn worker(&self, config: WorkerConfig) -> Background {
        self.worker_waiting(config, Duration::from_millis(500))
    }

    /// A worker that waits up to `provider_timeout` for a provider's answer.
    pub fn worker_waiting(&self, config: WorkerConfig, provider_timeout: Duration) -> Background {
        let providers =
            Arc::new(Providers::new(self.store.clone(), self.vault.clone(), Duration::from_secs(1), provider_timeout));
        let (stop, stopped) = watch::channel(false);
        let task = kassa_server::fulfilment::worker::spawn(self.store.clone(), providers, config, stopped);
        Background { stop, task: Some(task) }
    }

    pub fn webhook_dispatcher(&self, config: WebhookConfig) -> Background {
        let (stop, stopped) = watch::channel(false);
        let task = kassa_server::webhooks::spawn(self.store.clone(), self.vault.clone(), config, stopped);
        Background { stop, task: Some(task) }
    }
}

/// A worker or dispatcher of a test.
pub struct Background {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// Stops after the round in progress, like a node shutting down.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
