//! Work in progress in this process: idempotency keys being processed (a second request with
//! the same key while the first is still running gets `customer_wallet_locked` and retries with
//! the same key; once the first finishes, retries get its replay), the signatures of order
//! requests that placed no order, and each customer's turn for an identity upload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// How long a signature is remembered: a request passes the ±300 s timestamp check for at most
/// 600 s after it was first seen.
const SIGNATURE_MEMORY: Duration = Duration::from_secs(600);
/// Forgotten signatures are swept out at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Signatures of `POST /api/v1/orders` requests under the idempotency key they came with, while
/// they are in flight, and for as long as the timestamp window lets them pass when they placed no
/// order (a replay, a refusal, a failure). `X-Idempotency-Key` is not signed: a placed order keeps
/// its request's signature in the database, which refuses the signature under another key, but a
/// request that placed nothing left no trace, and resent under a new key it could place an order
/// its sender never asked for. In this process only, and not across a restart (`docs/api.md`).
#[derive(Default, Clone)]
pub struct SpentSignatures {
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    keys: HashMap<(CustomerId, [u8; 32]), (String, Instant)>,
    swept: Option<Instant>,
}

/// A signature recorded by this request; [`SignatureClaim::placed`] hands it to the database.
pub struct SignatureClaim {
    seen: Arc<Mutex<Seen>>,
    entry: (CustomerId, [u8; 32]),
}

impl SignatureClaim {
    /// The request placed its order, which keeps the signature from now on.
    pub fn placed(self) {
        self.seen.lock().expect("signature memory lock").keys.remove(&self.entry);
    }
}

/// The signature came with another idempotency key before.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureReused;

impl SpentSignatures {
    /// Records `signature` under `key`. `Ok(None)` when this very request (same signature, same
    /// key) was seen before: the store answers it as a retry.
    pub fn claim(
        &self,
        customer: CustomerId,
        signature: [u8; 32],
        key: &str,
    ) -> Result<Option<SignatureClaim>, SignatureReused> {
        let now = Instant::now();
        let mut seen = self.seen.lock().expect("signature memory lock");
        if seen.swept.is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY) {
            seen.keys.retain(|_, (_, until)| *until > now);
            seen.swept = Some(now);
        }
        let entry = (customer, signature);
        match seen.keys.get(&entry) {
            Some((earlier, until)) if *until > now => {
                return if earlier == key { Ok(None) } else { Err(SignatureReused) };
            }
            _ => {}
        }
        seen.keys.insert(entry, (key.to_string(), now + SIGNATURE_MEMORY));
        Ok(Some(SignatureClaim { seen: self.seen.clone(), entry }))
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

    #[test]
    fn a_signature_placing_nothing_is_refused_under_another_key() {
        let spent = SpentSignatures::default();
        let claim = spent.claim(CustomerId(1), [7; 32], "k1").unwrap().expect("new");
        drop(claim); // placed nothing: remembered
        assert_eq!(spent.claim(CustomerId(1), [7; 32], "k2").err(), Some(SignatureReused));
        assert!(spent.claim(CustomerId(1), [7; 32], "k1").unwrap().is_none(), "the same request again");
        assert!(spent.claim(CustomerId(2), [7; 32], "k2").unwrap().is_some(), "per customer");
        spent.claim(CustomerId(1), [8; 32], "k3").unwrap().expect("new").placed();
        assert!(spent.claim(CustomerId(1), [8; 32], "k4").unwrap().is_some(), "a placed order's is the database's");
    }

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
