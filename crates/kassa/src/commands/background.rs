//! The background work of a node: the fulfilment worker and the webhook dispatcher. `kassa serve`
//! runs it beside the API unless `--no-worker`; `kassa worker` runs it alone.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use kassa_core::crypto::Vault;
use kassa_server::fulfilment::{Providers, WorkerConfig};
use kassa_server::webhooks::{self, WebhookConfig};
use kassa_store::Store;
use tokio::sync::watch;

use crate::cli::BackgroundArgs;

/// The running background tasks; [`Background::stop`] lets them finish their round.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    pub fn start(store: Arc<dyn Store>, vault: Vault, args: &BackgroundArgs) -> Result<Self> {
        let ms = Duration::from_millis;
        let provider_timeout = ms(args.provider_timeout_ms.max(100));
        let worker = WorkerConfig {
            tick: ms(args.worker_tick_ms.max(10)),
            poll_interval: ms(args.poll_interval_ms.max(10)),
            lease: kassa_server::fulfilment::lease_for(provider_timeout),
            retry_base: ms(args.submit_retry_base_ms.max(1)),
            max_attempts: args.submit_max_attempts.max(1),
            ..WorkerConfig::default()
        };
        let hooks = WebhookConfig {
            schedule: match &args.webhook_schedule {
                Some(text) => webhooks::parse_schedule(text).map_err(anyhow::Error::msg)?,
                None => webhooks::default_schedule(),
            },
            allow_private: args.webhook_allow_private,
            tick: ms(args.worker_tick_ms.max(10)),
            ..WebhookConfig::default()
        };
        let providers =
            Arc::new(Providers::new(store.clone(), vault.clone(), Duration::from_secs(5), provider_timeout));
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            kassa_server::fulfilment::worker::spawn(store.clone(), providers, worker, stopped.clone()),
            webhooks::spawn(store, vault, hooks, stopped),
        ];
        tracing::info!("background work running: fulfilment worker and webhook dispatcher");
        Ok(Self { stop, tasks })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
