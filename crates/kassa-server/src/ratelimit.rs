//! Per-key request limits: GCRA with a sustained rate of N per minute and bursts of up to N
//! (governor). Each key has its own limit, so each key gets its own limiter, created on first
//! use and rebuilt if the operator changes the key's limit.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as Gcra};

/// Limiters idle for longer than this are dropped when the map grows past [`MAX_TRACKED`].
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
pub struct RateLimiter {
    local: DashMap<i64, Arc<(u32, DefaultDirectRateLimiter)>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one request from key `key_id`'s allowance; `Err` carries how long until the next
    /// request would be allowed.
    pub fn check(&self, key_id: i64, per_minute: u32) -> Result<(), Duration> {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let limiter = match self.local.get(&key_id) {
            Some(entry) if entry.0 == per_minute.get() => entry.clone(),
            _ => {
                if self.local.len() >= MAX_TRACKED {
                    // A full limiter table means an attack or a leak; start over rather than grow.
                    self.local.clear();
                }
                let fresh = Arc::new((per_minute.get(), Gcra::direct(Quota::per_minute(per_minute))));
                self.local.insert(key_id, fresh.clone());
                fresh
            }
        };
        limiter.1.check().map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_of_the_limit_then_refuses() {
        let limiter = RateLimiter::new();
        for _ in 0..3 {
            assert!(limiter.check(1, 3).is_ok());
        }
        let wait = limiter.check(1, 3).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        // Other keys are not affected.
        assert!(limiter.check(2, 3).is_ok());
    }
}
