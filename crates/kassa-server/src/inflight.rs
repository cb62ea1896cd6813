//! Work in progress in this process: idempotency keys being processed (a second request with
//! the same key while the first is still running gets `customer_wallet_locked` and retries with
//! the same key; once the first finishes, retries get its replay), and each customer's turn for an
//! identity upload.

use std::sync::Arc;

use dashmap::{DashMap, DashSet};
use kassa_core::CustomerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Default, Clone)]
pub struct InFlight {
    keys: Arc<DashSet<(CustomerId, String)>>,
}

/// Removes its key from the set when dropped, whatever way the request ends.
pub struct InFlightGuard {
    keys: Arc<DashSet<(CustomerId, String)>>,
    key: (CustomerId, String),
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.keys.remove(&self.key);
    }
}

impl InFlight {
    /// `None` if the same customer's key is already in flight.
    pub fn enter(&self, customer: CustomerId, key: &str) -> Option<InFlightGuard> {
        let entry = (customer, key.to_string());
        self.keys.insert(entry.clone()).then(|| InFlightGuard { keys: self.keys.clone(), key: entry })
    }
}

/// One `profile/verify` upload per customer at a time; the customer's others wait their turn.
#[derive(Default, Clone)]
pub struct UploadTurns {
    turns: Arc<DashMap<CustomerId, Arc<Semaphore>>>,
}

/// A customer's turn, given back when dropped.
pub struct UploadTurn {
    turns: Arc<DashMap<CustomerId, Arc<Semaphore>>>,
    customer: CustomerId,
    permit: Option<OwnedSemaphorePermit>,
}

impl UploadTurns {
    /// Waits until no other upload of `customer` is under way in this process.
    pub async fn wait(&self, customer: CustomerId) -> UploadTurn {
        let turn = self.turns.entry(customer).or_insert_with(|| Arc::new(Semaphore::new(1))).clone();
        let permit = turn.acquire_owned().await.expect("an upload turn is never closed");
        UploadTurn { turns: self.turns.clone(), customer, permit: Some(permit) }
    }
}

impl Drop for UploadTurn {
    fn drop(&mut self) {
        drop(self.permit.take());
        // Forgotten once nobody holds or waits for it (each of those keeps a clone).
        self.turns.remove_if(&self.customer, |_, turn| Arc::strong_count(turn) == 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_upload_turn_per_customer() {
        let turns = UploadTurns::default();
        let first = turns.wait(CustomerId(1)).await;
        let _other = turns.wait(CustomerId(2)).await;
        let waiting = tokio::spawn({
            let turns = turns.clone();
            async move { turns.wait(CustomerId(1)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the customer's second upload waits for the first");
        drop(first);
        let second = waiting.await.unwrap();
        drop(second);
        assert!(!turns.turns.contains_key(&CustomerId(1)), "a turn nobody holds is forgotten");
    }

    #[test]
    fn one_holder_per_key() {
        let inflight = InFlight::default();
        let guard = inflight.enter(CustomerId(1), "k").unwrap();
        assert!(inflight.enter(CustomerId(1), "k").is_none());
        assert!(inflight.enter(CustomerId(2), "k").is_some());
        drop(guard);
        assert!(inflight.enter(CustomerId(1), "k").is_some());
    }
}
