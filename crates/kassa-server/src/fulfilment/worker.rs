//! The fulfilment worker: sends queued orders to their providers and polls submitted ones.
//!
//! * A submission is claimed (marked `submitting` under a lease, committed) before the request
//!   goes out. If the worker dies between sending and recording, the lease runs out and the order
//!   goes to `needs_review` — it is never sent twice. A worker claims only as many orders as it
//!   sends at once, so every claimed order is on the wire right after its claim and the lease
//!   (longer than the slowest provider call) never runs out under a live worker: an order that
//!   waited in a queue while another worker expired its claim could otherwise be sent after it
//!   went to review.
//! * Failures are sorted by what they prove: a connection that was never made is retried with
//!   backoff and jitter, a bounded number of times; anything after the request may have been
//!   read (timeout, reset, 5xx, unreadable answer) sends the order to `needs_review`; a clear
//!   refusal cancels it with a full refund.
//! * Statuses are polled in batches of up to 100 orders per provider call, and each report is
//!   applied by the store, which refunds a final `partial` or `canceled` exactly once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kassa_core::OrderId;
use kassa_store::{now_millis, Millis, OrderRecord, StatusChange, Store, StoreError, StoreResult, Submission};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::providers::Providers;
use super::smm_v2::{CallError, MAX_STATUS_BATCH};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How often the worker looks for work.
    pub tick: Duration,
    /// Time between two status checks of one order.
    pub poll_interval: Duration,
    /// How long a claim holds; longer than a provider call may take.
    pub lease: Duration,
    /// Most orders claimed for a status check per round.
    pub poll_batch: u32,
    /// Submissions sent at once, and so claimed at once.
    pub concurrency: usize,
    /// Attempts to reach a provider before an order that was never sent goes to review.
    pub max_attempts: u32,
    /// First retry delay of a submission that was never sent; doubles each time, with jitter.
    pub retry_base: Duration,
    pub retry_cap: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            poll_interval: Duration::from_secs(30),
            lease: Duration::from_secs(120),
            poll_batch: 500,
            concurrency: 8,
            max_attempts: 6,
            retry_base: Duration::from_secs(2),
            retry_cap: Duration::from_secs(300),
        }
    }
}

/// Starts the worker; it stops when `shutdown` turns true.
pub fn spawn(
    store: Arc<dyn Store>,
    providers: Arc<Providers>,
    config: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(config.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            // A full round means more may be waiting: go on without waiting for the next tick.
            while submit_round(&store, &providers, &config).await >= config.concurrency.max(1) && !*shutdown.borrow() {}
            poll_round(&store, &providers, &config).await;
        }
        tracing::info!("fulfilment worker stopped");
    })
}

fn millis_after(delay: Duration) -> i64 {
    now_millis() + delay.as_millis() as i64
}

/// Exponential backoff with ±25% jitter, so many failed submissions do not retry in lockstep.
fn retry_delay(config: &WorkerConfig, attempts: u32) -> Duration {
    let base = config.retry_base.saturating_mul(2u32.saturating_pow(attempts.min(16))).min(config.retry_cap);
    let factor = rand::thread_rng().gen_range(0.75..1.25);
    base.mul_f64(factor)
}

/// Claims and sends up to `concurrency` orders, all at once; answers how many were claimed.
async fn submit_round(store: &Arc<dyn Store>, providers: &Arc<Providers>, config: &WorkerConfig) -> usize {
    let claimed = match store.claim_submissions(config.concurrency.max(1) as u32, config.lease).await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::warn!(error = %e, "claiming orders to submit failed");
            return 0;
        }
    };
    let (count, claimed_until) = (claimed.orders.len(), claimed.until);
    let mut running = JoinSet::new();
    for order in claimed.orders {
        let (store, providers, config) = (store.clone(), providers.clone(), config.clone());
        running.spawn(async move {
            let submission = submit(&providers, &config, &order).await;
            let id = order.id.clone();
            let poll_at = millis_after(config.poll_interval);
            match record_submission(store.as_ref(), &id, claimed_until, &submission, poll_at).await {
                Ok(recorded) => tracing::info!(order = %id, upstream = %recorded.upstream, "submission recorded"),
                // The lease will run out and the order go to review, where an operator decides
                // (an acceptance is tried for longer, see `record_submission`).
                Err(e) => tracing::error!(order = %id, error = %e, ?submission, "recording a submission failed"),
            }
        });
    }
    while running.join_next().await.is_some() {}
    count
}

/// How long past its claim's lease a provider's acceptance is still tried to be recorded.
const ACCEPTED_RETRY_FOR: Duration = Duration::from_secs(600);

/// Records a provider's answer. While the database is unavailable or contended it tries again,
/// as long as the claim holds: an answer that is not recorded sends the order to review when the
/// lease runs out, and an operator then has to find out from the provider what it already said.
/// An acceptance is tried for [`ACCEPTED_RETRY_FOR`] beyond that: recorded late, it still keeps
/// the order from being sent again (see `SubmissionFate`), and lost, nothing else would.
/// Trying again is safe: an answer recorded meanwhile leaves the order outside this claim, and the
/// store only notes a second one.
async fn record_submission(
    store: &dyn Store,
    id: &OrderId,
    claimed_until: Millis,
    submission: &Submission,
    poll_at: Millis,
) -> StoreResult<OrderRecord> {
    let give_up_at = match submission {
        Submission::Accepted { .. } => claimed_until.max(millis_after(ACCEPTED_RETRY_FOR)),
        _ => claimed_until,
    };
    let mut wait = Duration::from_millis(100);
    loop {
        match store.record_submission(id, claimed_until, submission.clone(), poll_at).await {
            Err(e @ (StoreError::Unavailable(_) | StoreError::Contention(_)))
                if now_millis() + (wait.as_millis() as Millis) < give_up_at =>
            {
                tracing::warn!(order = %id, error = %e, retry_in = ?wait, "recording a submission failed; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Sends one claimed order and says what happened.
async fn submit(providers: &Providers, config: &WorkerConfig, order: &OrderRecord) -> Submission {
    let not_sent = |error: String| {
        let attempts = order.attempts + 1;
        if attempts >= config.max_attempts {
            Submission::NeedsReview {
                reason: format!("never sent: the provider could not be reached in {attempts} attempts ({error})"),
            }
        } else {
            Submission::NotSent { error, retry_at: millis_after(retry_delay(config, order.attempts)) }
        }
    };
    let (Some(provider_id), Some(service)) = (order.provider_id, order.provider_service.as_deref()) else {
        return Submission::NeedsReview { reason: "the order has no provider service to send it to".into() };
    };
    let connector = match providers.connector(provider_id).await {
        Ok(Some(connector)) => connector,
        Ok(None) => return Submission::NeedsReview { reason: format!("provider {provider_id} is manual") },
        Err(e) => return not_sent(e.to_string()),
    };
    let comments = order.custom_comments.as_deref();
    match connector.add(service, &order.link, order.quantity, comments).await {
        Ok(provider_order_id) => Submission::Accepted { provider_order_id },
        Err(CallError::NotSent(error)) => not_sent(error),
        Err(CallError::Unknown(error)) => {
            Submission::NeedsReview { reason: format!("the provider may have the order: {error}") }
        }
        Err(CallError::Refused(error)) => {
            Submission::Rejected { error: format!("the provider refused the order: {error}") }
        }
    }
}

async fn poll_round(store: &Arc<dyn Store>, providers: &Arc<Providers>, config: &WorkerConfig) {
    // Orders due within half an interval are checked now, so one call covers more of them.
    let claimed = match store.claim_polls(config.poll_batch, config.poll_interval / 2, config.lease).await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::warn!(error = %e, "claiming orders to poll failed");
            return;
        }
    };
    let mut by_provider: HashMap<i64, Vec<OrderRecord>> = HashMap::new();
    for order in claimed.orders {
        if let (Some(provider), Some(_)) = (order.provider_id, &order.provider_order_id) {
            by_provider.entry(provider).or_default().push(order);
        }
    }
    for (provider_id, orders) in by_provider {
        let connector = match providers.connector(provider_id).await {
            Ok(Some(connector)) => connector,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(provider = provider_id, error = %e, "cannot poll a provider");
                continue;
            }
        };
        for chunk in orders.chunks(MAX_STATUS_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|o| o.provider_order_id.clone()).collect();
            let reports = match connector.statuses(&ids).await {
                Ok(reports) => reports,
                // Nothing is concluded from a failed poll; the orders are asked about again after
                // the usual interval.
                Err(e) => {
                    tracing::warn!(provider = provider_id, error = %e, orders = ids.len(), "status poll failed");
                    HashMap::new()
                }
            };
            for order in chunk {
                let report = order.provider_order_id.as_ref().and_then(|id| reports.get(id));
                let change = match report {
                    Some(Ok(status)) => StatusChange {
                        status: status.status,
                        smm_status: Some(status.raw.clone()),
                        remains: status.remains,
                        start_count: status.start_count,
                        ..Default::default()
                    },
                    Some(Err(error)) => {
                        tracing::warn!(order = %order.id, %error, "the provider reports an error for an order");
                        StatusChange::default()
                    }
                    None => StatusChange::default(),
                };
                let next_poll_at = millis_after(config.poll_interval);
                if let Err(e) = store.record_poll(&order.id, claimed.until, change, next_poll_at).await {
                    tracing::error!(order = %order.id, error = %e, "recording a status report failed");
                }
            }
        }
    }
}
