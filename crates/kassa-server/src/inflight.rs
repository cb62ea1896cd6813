//! Idempotency keys being processed right now in this process. A second request with the same
//! key while the first is still running gets `customer_wallet_locked` and retries with the same
//! key; once the first finishes, retries get its replay.

use std::sync::Arc;

use dashmap::DashSet;
use kassa_core::CustomerId;

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

#[cfg(test)]
mod tests {
    use super::*;

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
