//! Order placement on PostgreSQL, with group commit.
//!
//! A request prices its order in Rust (`ServiceTerms::quote`, against a cached copy of the
//! service) and queues it on its customer's "lane" (one of a few, chosen by customer id). A lane
//! takes whatever is queued on it, sorts it by customer (so concurrent batches lock wallets in the
//! same order), and places the whole batch with one call to `kassa_place_orders`: one round trip,
//! one transaction, one commit. Every order of one customer goes through the same lane, so a busy
//! wallet's orders share one transaction (one lock of its row, one commit) instead of queueing
//! for the row lock in several. The function re-checks,
//! atomically with the debit, everything that could have changed: the idempotency key, the
//! client reference, the service version that was quoted, and the balance. An item whose service
//! changed, or that raced another node for the same key, is re-quoted and re-queued, a bounded
//! number of times.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::Pool;
use kassa_core::catalog::OrderRefusal;
use kassa_core::{Currency, Minor, OrderId};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::Json;

use super::{backoff, bounded, map_err, map_pool_err, release, sql, PostgresOptions};
use crate::model::*;
use crate::{StoreError, StoreResult};

/// Re-quotes of one order (its service changed, or it raced another node) before giving up.
const PLACE_ATTEMPTS: usize = 4;
/// Orders waiting for a lane.
const QUEUE_LEN: usize = 8192;

/// What `kassa_place_orders` decided for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created { seq: i64, balance: i64 },
    Replay,
    KeyConflict,
    RefConflict,
    SignatureConflict,
    StaleService,
    Insufficient { balance: i64 },
    NoWallet,
    Race,
}

/// One order as `kassa_place_orders` reads it from its `jsonb` argument (`item->>'customer_id'`,
/// ...). A batch is serialized once, straight from these, into the call's parameter.
#[derive(Debug, Serialize)]
struct Item {
    customer_id: i64,
    key: String,
    fingerprint: String,
    client_order_ref: Option<String>,
    service_id: i64,
    service_version: Millis,
    service_name: String,
    price_per_1000: String,
    quantity: u64,
    link: String,
    custom_comments: Option<String>,
    charge: i64,
    order_id: String,
    status: &'static str,
    provider_id: Option<i64>,
    provider_service: Option<String>,
    upstream: &'static str,
    signature: Option<String>,
}

struct Job {
    item: Item,
    reply: oneshot::Sender<StoreResult<Outcome>>,
}

pub struct OrderLanes {
    lanes: Vec<mpsc::Sender<Job>>,
    services: Arc<RwLock<HashMap<i64, ServiceRecord>>>,
    currency: Currency,
    /// Longest wait for the database's answer (see [`PostgresOptions::answer_bound`]).
    bound: Duration,
}

impl OrderLanes {
    pub fn start(pool: Pool, options: &PostgresOptions, currency: Currency) -> Self {
        let count = (options.pool_size / 2).max(1);
        let lanes = (0..count)
            .map(|_| {
                let (queue, jobs) = mpsc::channel((QUEUE_LEN / count).max(1));
                tokio::spawn(run_lane(
                    pool.clone(),
                    jobs,
                    options.max_batch.max(1),
                    options.max_attempts,
                    options.answer_bound(),
                ));
                queue
            })
            .collect();
        Self { lanes, services: Arc::new(RwLock::new(HashMap::new())), currency, bound: options.answer_bound() }
    }

    /// Drops a cached service, so the next order reads it afresh.
    pub fn forget_service(&self, id: i64) {
        self.services.write().expect("service cache lock").remove(&id);
    }

    /// The service, and whether it came from this process's cache. Another process (a second
    /// node, `kassa admin service update`) may have changed it since it was cached: an order it
    /// accepts is checked against the row's version in the placing transaction, and a refusal it
    /// makes is checked again against a fresh copy before it is answered (see [`Self::place`]).
    async fn service(&self, pool: &Pool, id: i64) -> StoreResult<Option<(ServiceRecord, bool)>> {
        if let Some(service) = self.services.read().expect("service cache lock").get(&id) {
            return Ok(Some((service.clone(), true)));
        }
        let client = pool.get().await.map_err(map_pool_err)?;
        let service = release(bounded(self.bound, sql::service(&client, id)).await, client)?;
        if let Some(service) = &service {
            self.services.write().expect("service cache lock").insert(id, service.clone());
        }
        Ok(service.map(|s| (s, false)))
    }

    /// An earlier order under this key wins over a refusal of this request (the retry of a
    /// successful order replays, even if the service was withdrawn since), and a client
    /// reference or signature already used wins over the service's refusals: the same request
    /// gets the same answer as on SQLite, which checks key, reference and signature first.
    async fn replay_or_refuse(&self, pool: &Pool, new: &NewOrder, refusal: OrderRefusal) -> StoreResult<OrderPlaced> {
        if let Some(placed) = self.earlier_order(pool, new).await? {
            return Ok(placed);
        }
        if matches!(refusal, OrderRefusal::ClientOrderRefReused | OrderRefusal::SignatureReused) {
            return Err(refusal.into());
        }
        let client = pool.get().await.map_err(map_pool_err)?;
        let used = bounded(
            self.bound,
            sql::order_reuse(
                &client,
                new.customer_id,
                new.request.client_order_ref.as_deref(),
                new.signature.as_deref(),
            ),
        )
        .await;
        Err(release(used, client)?.unwrap_or(refusal).into())
    }

    async fn earlier_order(&self, pool: &Pool, new: &NewOrder) -> StoreResult<Option<OrderPlaced>> {
        let client = pool.get().await.map_err(map_pool_err)?;
        let found = bounded(self.bound, sql::order_by_key(&client, new.customer_id, &new.idempotency_key)).await;
        match release(found, client)? {
            Some((order, fingerprint)) if fingerprint == new.request.fingerprint() => {
                Ok(Some(OrderPlaced::Replayed(order)))
            }
            Some(_) => Err(OrderRefusal::IdempotencyKeyReused.into()),
            None => Ok(None),
        }
    }

    pub async fn place(&self, pool: &Pool, new: NewOrder) -> StoreResult<OrderPlaced> {
        let request = &new.request;
        let fingerprint = request.fingerprint();
        let comments = request.custom_comments.as_ref().map(|c| c.join("\n"));
        for _ in 0..PLACE_ATTEMPTS {
            let Some((service, cached)) = self.service(pool, request.service_id).await? else {
                return self.replay_or_refuse(pool, &new, OrderRefusal::ServiceNotFound).await;
            };
            let charge = match service.terms().quote(request, &new.allowed_services, &self.currency) {
                Ok(charge) => charge,
                // Refused by a cached copy: the service may have been re-activated or widened
                // by another process since; decide on the row as it is now.
                Err(_) if cached => {
                    self.forget_service(service.id);
                    continue;
                }
                Err(refusal) => return self.replay_or_refuse(pool, &new, refusal).await,
            };
            let id = OrderId::generate();
            let item = Item {
                customer_id: new.customer_id.0,
                key: new.idempotency_key.clone(),
                fingerprint: hex::encode(fingerprint),
                client_order_ref: request.client_order_ref.clone(),
                service_id: service.id,
                service_version: service.updated_at,
                service_name: service.name.clone(),
                price_per_1000: service.price_per_1000.to_string(),
                quantity: request.quantity,
                link: request.link.clone(),
                custom_comments: comments.clone(),
                charge: charge.0,
                order_id: id.as_str().to_string(),
                status: INITIAL_ORDER_STATUS.as_str(),
                provider_id: service.provider_id,
                provider_service: service.provider_service.clone(),
                upstream: service.initial_upstream().as_str(),
                signature: new.signature.as_deref().map(hex::encode),
            };
            let (reply, answer) = oneshot::channel();
            let lane = &self.lanes[new.customer_id.0.unsigned_abs() as usize % self.lanes.len()];
            lane.send(Job { item, reply })
                .await
                .map_err(|_| StoreError::Unavailable("the order lanes have stopped".into()))?;
            let outcome = answer.await.map_err(|_| StoreError::Unavailable("an order lane stopped".into()))??;
            match outcome {
                Outcome::Created { seq, balance: _ } => {
                    let now = now_millis();
                    let upstream = service.initial_upstream();
                    return Ok(OrderPlaced::Created(OrderRecord {
                        seq,
                        id,
                        customer_id: new.customer_id,
                        service_id: service.id,
                        service_name: service.name,
                        quantity: request.quantity,
                        link: request.link.clone(),
                        custom_comments: comments,
                        client_order_ref: request.client_order_ref.clone(),
                        idempotency_key: new.idempotency_key.clone(),
                        price_per_1000: service.price_per_1000,
                        charge,
                        refunded: Minor::ZERO,
                        status: INITIAL_ORDER_STATUS,
                        smm_status: None,
                        remains: None,
                        start_count: None,
                        created_at: now,
                        updated_at: now,
                        upstream,
                        provider_id: service.provider_id,
                        provider_service: service.provider_service,
                        provider_order_id: None,
                        attempts: 0,
                        next_attempt_at: Some(now),
                        last_error: None,
                    }));
                }
                Outcome::Replay | Outcome::KeyConflict => {
                    return self
                        .earlier_order(pool, &new)
                        .await?
                        .ok_or_else(|| StoreError::Internal("an order reported as existing could not be read".into()));
                }
                // Each check in `kassa_place_orders` reads its own snapshot: another node's order
                // for this very key (same body, so same reference and, within the same second,
                // same signature) can commit after the key check missed it and before the
                // reference or signature check finds it. The key decides first, as it would have
                // with one snapshot: the retry replays.
                Outcome::RefConflict => {
                    return self.replay_or_refuse(pool, &new, OrderRefusal::ClientOrderRefReused).await
                }
                Outcome::SignatureConflict => {
                    return self.replay_or_refuse(pool, &new, OrderRefusal::SignatureReused).await
                }
                Outcome::Insufficient { balance } => {
                    return Err(OrderRefusal::InsufficientBalance { balance: Minor(balance), required: charge }.into())
                }
                Outcome::NoWallet => return Err(OrderRefusal::CustomerNotFound.into()),
                Outcome::StaleService => self.forget_service(service.id),
                Outcome::Race => tokio::time::sleep(backoff(1)).await,
            }
        }
        Err(StoreError::Contention("the order kept racing concurrent changes".into()))
    }
}

async fn run_lane(pool: Pool, mut jobs: mpsc::Receiver<Job>, max_batch: usize, max_attempts: u32, bound: Duration) {
    loop {
        let mut batch = {
            let Some(first) = jobs.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        // An order whose request stopped waiting (timed out, answered 503 "retry") is not
        // placed behind that answer.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        // Wallet rows are locked in customer order by every lane and node, which keeps
        // concurrent batches from deadlocking on each other's wallets.
        batch.sort_by_key(|job| job.item.customer_id);
        let items = Json(batch.iter().map(|job| &job.item).collect::<Vec<_>>());
        match place_batch(&pool, &items, max_attempts, bound).await {
            // One outcome per item, in the items' order (`in_item_order`).
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // Mostly the database refused the call as a whole, so nothing of it committed: one
            // order it cannot take (a constraint or trigger added by an operator, a value it
            // rejects) must not fail the orders that merely shared its batch. Each is placed
            // alone. If the call did commit and only its answer was unreadable, each order placed
            // again replays under its idempotency key: nothing is placed twice.
            Err(StoreError::Internal(_) | StoreError::Invalid(_) | StoreError::Conflict(_)) if batch.len() > 1 => {
                tracing::warn!(orders = batch.len(), "a batch of orders failed as a whole; placing them one by one");
                // Once the database stops answering, the rest share that answer rather than each
                // waiting out the bound in turn.
                let mut unavailable = None;
                for job in batch {
                    let answer =
                        match &unavailable {
                            Some(error) => Err(StoreError::clone(error)),
                            None => place_batch(&pool, &Json(vec![&job.item]), max_attempts, bound).await.and_then(
                                |outcomes| match outcomes[..] {
                                    [outcome] => Ok(outcome),
                                    _ => Err(StoreError::Internal(format!("{} outcomes for 1 order", outcomes.len()))),
                                },
                            ),
                        };
                    if let Err(error @ StoreError::Unavailable(_)) = &answer {
                        unavailable = Some(error.clone());
                    }
                    let _ = job.reply.send(answer);
                }
            }
            // Not answered (whether it committed is unknown until the database answers again),
            // or still contended after every retry: every order of the batch shares the failure.
            Err(error) => {
                for job in batch {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Calls `kassa_place_orders` once for the batch, retrying deadlocks and serialization
/// failures. The call is one statement in autocommit mode: it commits as a whole or not at all.
/// A database that does not answer within `bound` fails the batch as unavailable (the lane moves
/// on; its requests answer 503): whether a batch that was sent committed is then unknown until
/// the database answers again, and a retry of such a request under its idempotency key replays
/// the order or places it, never both.
async fn place_batch(
    pool: &Pool,
    items: &Json<Vec<&Item>>,
    max_attempts: u32,
    bound: Duration,
) -> StoreResult<Vec<Outcome>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let client = pool.get().await.map_err(map_pool_err)?;
        let placing = async {
            let stmt = client
                .prepare_cached("SELECT item, outcome, seq, balance FROM kassa_place_orders($1::jsonb, $2)")
                .await
                .map_err(map_err)?;
            let rows = client.query(&stmt, &[items, &now_millis()]).await.map_err(map_err)?;
            let answers =
                rows.iter().map(|row| Ok((row.get("item"), outcome(row)?))).collect::<StoreResult<Vec<_>>>()?;
            in_item_order(answers, items.0.len())
        };
        let result = bounded(bound, placing).await;
        match result {
            Err(StoreError::Contention(_)) if attempt < max_attempts => tokio::time::sleep(backoff(attempt)).await,
            Err(StoreError::Unavailable(cause)) => {
                let _ = deadpool_postgres::Object::take(client);
                return Err(StoreError::Unavailable(cause));
            }
            other => return other,
        }
    }
}

/// The outcomes in the order of the items, each placed by the `item` (position) its row names:
/// an answer is never given to another order than the one it is about.
fn in_item_order(answers: impl IntoIterator<Item = (i32, Outcome)>, items: usize) -> StoreResult<Vec<Outcome>> {
    let mut outcomes = vec![None; items];
    for (item, outcome) in answers {
        match usize::try_from(item).ok().and_then(|i| outcomes.get_mut(i)) {
            Some(slot @ None) => *slot = Some(outcome),
            _ => {
                return Err(StoreError::Internal(format!(
                    "kassa_place_orders answered item {item} of {items} twice or out of range"
                )))
            }
        }
    }
    outcomes
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| StoreError::Internal(format!("kassa_place_orders left some of {items} items unanswered")))
}

fn outcome(row: &tokio_postgres::Row) -> StoreResult<Outcome> {
    let seq: Option<i64> = row.get("seq");
    let balance: Option<i64> = row.get("balance");
    let missing = || StoreError::Internal("kassa_place_orders returned an incomplete row".into());
    Ok(match row.get::<_, &str>("outcome") {
        "created" => Outcome::Created { seq: seq.ok_or_else(missing)?, balance: balance.ok_or_else(missing)? },
        "replay" => Outcome::Replay,
        "key_conflict" => Outcome::KeyConflict,
        "ref_conflict" => Outcome::RefConflict,
        "signature_conflict" => Outcome::SignatureConflict,
        "stale_service" => Outcome::StaleService,
        "insufficient" => Outcome::Insufficient { balance: balance.ok_or_else(missing)? },
        "no_wallet" => Outcome::NoWallet,
        "race" => Outcome::Race,
        other => return Err(StoreError::Internal(format!("unknown outcome {other:?} from kassa_place_orders"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_go_to_the_item_they_name() {
        let answers = [(2, Outcome::Replay), (0, Outcome::NoWallet), (1, Outcome::Race)];
        assert_eq!(in_item_order(answers, 3).unwrap(), [Outcome::NoWallet, Outcome::Race, Outcome::Replay]);
        for wrong in [
            vec![(0, Outcome::Replay)],
            vec![(0, Outcome::Replay), (0, Outcome::Race)],
            vec![(0, Outcome::Replay), (2, Outcome::Race)],
        ] {
            assert!(matches!(in_item_order(wrong.clone(), 2), Err(StoreError::Internal(_))), "{wrong:?}");
        }
        assert!(in_item_order([(-1, Outcome::Replay)], 1).is_err());
    }
}
