//! The key lookup of signed requests, batched.
//!
//! Every signed request starts by reading its API key (with the customer's status and wallet
//! balance). One query per request makes that round trip, not the request's work, the cost of a
//! read-only request: the database parses, plans and answers a one-row query, and the two
//! processes switch for it. Lookups are queued here instead; a collector takes whatever is queued
//! and answers it with one query (an index lookup per key, see `sql::auth_records`), with a few
//! such queries in flight at once. Under load a query answers dozens of requests; a lone request
//! still gets its own query at once.
//!
//! The lookups have connections of their own (a quarter of the node's pool), on which
//! PostgreSQL plans the query once: left to choose, it plans it afresh at every execution (the
//! array's length changes the estimate), and planning cost three times the lookup itself.
//!
//! Nothing is cached: each lookup is answered by a query that started after the request was
//! queued, so a revoked key or a new balance shows in the next request exactly as before.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{bounded, map_pool_err, release, sql};
use crate::model::AuthRecord;
use crate::{StoreError, StoreResult};

/// Lookups waiting for the collector.
const QUEUE_LEN: usize = 8192;
/// Most keys in one query.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<StoreResult<Option<AuthRecord>>>;

struct Lookup {
    api_key: String,
    reply: Reply,
}

pub struct KeyLookups {
    queue: mpsc::Sender<Lookup>,
    /// Longest a request waits for its answer: queueing, a connection and the query.
    wait: Duration,
}

impl KeyLookups {
    /// Starts the collector; one query in flight per connection of `pool`. A lookup not answered
    /// within `wait` is [`StoreError::Unavailable`] (the database hangs rather than refuses). A
    /// query not answered within `answer_bound` is given up and its connection closed, so that a
    /// connection cut off without a reset cannot hold a query slot for good.
    pub fn start(pool: Pool, wait: Duration, answer_bound: Duration) -> Self {
        let (queue, lookups) = mpsc::channel(QUEUE_LEN);
        let slots = Arc::new(Semaphore::new(pool.status().max_size));
        tokio::spawn(collect(pool, lookups, slots, answer_bound));
        Self { queue, wait }
    }

    pub async fn find(&self, api_key: &str) -> StoreResult<Option<AuthRecord>> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the key lookups have stopped".into());
        let lookup = async {
            self.queue.send(Lookup { api_key: api_key.to_string(), reply }).await.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        };
        tokio::time::timeout(self.wait, lookup).await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!("no answer to the key lookup within {} ms", self.wait.as_millis())))
        })
    }
}

/// Takes everything queued (up to [`MAX_BATCH`]) once a query slot is free, so the batches grow
/// exactly when the database is the bottleneck.
async fn collect(pool: Pool, mut lookups: mpsc::Receiver<Lookup>, slots: Arc<Semaphore>, answer_bound: Duration) {
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let Some(first) = lookups.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match lookups.try_recv() {
                Ok(lookup) => batch.push(lookup),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, batch, answer_bound).await;
            drop(slot);
        });
    }
}

async fn answer(pool: &Pool, batch: Vec<Lookup>, answer_bound: Duration) {
    // Concurrent requests often carry the same key: ask for it once, answer each of them. A
    // request that stopped waiting (its own time limit) is not asked for.
    let mut waiting: HashMap<String, Vec<Reply>> = HashMap::with_capacity(batch.len());
    for lookup in batch.into_iter().filter(|lookup| !lookup.reply.is_closed()) {
        waiting.entry(lookup.api_key).or_default().push(lookup.reply);
    }
    if waiting.is_empty() {
        return;
    }
    let keys: Vec<&str> = waiting.keys().map(String::as_str).collect();
    let found = match pool.get().await.map_err(map_pool_err) {
        Ok(client) => {
            let found = bounded(answer_bound, sql::auth_records(&client, &keys)).await;
            release(found, client)
        }
        Err(error) => Err(error),
    };
    match found {
        Ok(found) => {
            for record in found {
                for reply in waiting.remove(&record.key.api_key).unwrap_or_default() {
                    let _ = reply.send(Ok(Some(record.clone())));
                }
            }
            // Keys the query did not find do not exist.
            for reply in waiting.into_values().flatten() {
                let _ = reply.send(Ok(None));
            }
        }
        Err(error) => {
            for reply in waiting.into_values().flatten() {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
