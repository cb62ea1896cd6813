//! Per-key request limits: GCRA with a sustained rate of N per minute and bursts of up to N.
//!
//! * Alone, each process limits on its own (governor, one limiter per key).
//! * With Redis (`--redis-url`), every node shares one limit per key: the GCRA state lives in
//!   Redis and is read, checked and advanced by one atomic Lua script, on Redis's clock. It is
//!   kept under a digest of the API key itself (unique across deployments, and not the key),
//!   not under the key's row id, which another deployment sharing the Redis has too.
//! * If Redis fails, requests are still served: the node falls back to its local limiter, warns
//!   once, skips Redis for a second at a time instead of paying a timeout per request, and says
//!   so again when Redis is back.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as Gcra};
use tokio::sync::Mutex;

/// Local limiters kept at most. A full table first lets go of the limiters of keys idle for a
/// minute (whose allowance is whole again, so a fresh limiter is the same); if that is not
/// enough (a leak or an attack), it is cleared rather than grown.
const MAX_TRACKED: usize = 100_000;
/// After a minute without requests a per-minute allowance is whole again.
const IDLE_AFTER: Duration = Duration::from_secs(60);
/// Longest a Redis round trip may take before the request uses the local limiter.
const REDIS_TIMEOUT: Duration = Duration::from_millis(150);
/// After a Redis failure, how long to use the local limiter before trying Redis again.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);

/// One atomic GCRA step. KEYS[1]: the key's state; ARGV[1]: emission interval and ARGV[2]:
/// burst tolerance, both in microseconds. Returns 0 if allowed, else microseconds to wait.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tolerance then
  return tat - now - tolerance
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return 0
";

/// One key's local limiter.
struct Kept {
    per_minute: u32,
    limiter: DefaultDirectRateLimiter,
    /// Milliseconds since the table's `epoch` at the key's last request.
    last_used_ms: AtomicU64,
}

struct Local {
    limiters: DashMap<i64, Arc<Kept>>,
    epoch: Instant,
    max_tracked: usize,
    idle_after: Duration,
}

impl Default for Local {
    fn default() -> Self {
        Self { limiters: DashMap::new(), epoch: Instant::now(), max_tracked: MAX_TRACKED, idle_after: IDLE_AFTER }
    }
}

impl Local {
    fn check(&self, key_id: i64, per_minute: NonZeroU32) -> Result<(), Duration> {
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        // The map's `Ref` is let go of at the end of this statement: one held across another call
        // on the map (as a `match` on `get` holds it) deadlocks its shard.
        let kept =
            self.limiters.get(&key_id).filter(|kept| kept.per_minute == per_minute.get()).map(|kept| kept.clone());
        let kept = match kept {
            Some(kept) => kept,
            None => {
                if self.limiters.len() >= self.max_tracked {
                    let idle_before = now_ms.saturating_sub(self.idle_after.as_millis() as u64);
                    self.limiters.retain(|_, kept| kept.last_used_ms.load(Ordering::Relaxed) > idle_before);
                    if self.limiters.len() >= self.max_tracked {
                        self.limiters.clear();
                    }
                }
                // One entry for the lookup and the insert, so first requests of a key racing
                // each other share one limiter instead of each getting a fresh allowance.
                let fresh = || {
                    Arc::new(Kept {
                        per_minute: per_minute.get(),
                        limiter: Gcra::direct(Quota::per_minute(per_minute)),
                        last_used_ms: AtomicU64::new(now_ms),
                    })
                };
                let entry = self
                    .limiters
                    .entry(key_id)
                    .and_modify(|kept| {
                        if kept.per_minute != per_minute.get() {
                            *kept = fresh();
                        }
                    })
                    .or_insert_with(fresh);
                entry.value().clone()
            }
        };
        kept.last_used_ms.store(now_ms, Ordering::Relaxed);
        kept.limiter.check().map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

struct Shared {
    client: redis::Client,
    /// The connection once made (a handle to one multiplexed connection, cloned per request).
    connection: Mutex<Option<redis::aio::ConnectionManager>>,
    script: redis::Script,
    /// Milliseconds since `epoch` before which Redis is not tried.
    skip_until_ms: AtomicU64,
    epoch: Instant,
    warned: AtomicBool,
}

impl Shared {
    /// The connection to Redis, made by this request if there is none yet. Requests arriving
    /// while one connects wait for that attempt (a reachable Redis answers in a millisecond, and
    /// the limit stays cluster-wide); `None` if it failed meanwhile: they do not each try again,
    /// one after another, at the cost of a whole connect timeout apiece.
    async fn connection(&self) -> Result<Option<redis::aio::ConnectionManager>, String> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(Some(connection.clone()));
        }
        if !self.available() {
            return Ok(None);
        }
        let connection =
            tokio::time::timeout(REDIS_TIMEOUT * 2, redis::aio::ConnectionManager::new(self.client.clone()))
                .await
                .map_err(|_| "connecting to Redis timed out".to_string())
                .and_then(|made| made.map_err(|e| e.to_string()))
                // Marked before the lock is let go of, so that no waiter tries again at once.
                .inspect_err(|error| self.failed(error))?;
        *slot = Some(connection.clone());
        Ok(Some(connection))
    }

    /// The verdict of the shared limit; `None` if the attempt to connect that this request waited
    /// for failed (the local limiter answers).
    async fn check(&self, api_key: &str, per_minute: NonZeroU32) -> Result<Option<Result<(), Duration>>, String> {
        let Some(mut connection) = self.connection().await? else { return Ok(None) };
        let interval_us = 60_000_000u64 / u64::from(per_minute.get());
        let tolerance_us = interval_us * u64::from(per_minute.get() - 1);
        let mut invocation = self.script.key(redis_key(api_key));
        invocation.arg(interval_us).arg(tolerance_us);
        let wait_us: u64 = tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| "Redis did not answer in time".to_string())?
            .map_err(|e| e.to_string())?;
        Ok(Some(if wait_us == 0 { Ok(()) } else { Err(Duration::from_micros(wait_us)) }))
    }

    fn available(&self) -> bool {
        self.epoch.elapsed().as_millis() as u64 >= self.skip_until_ms.load(Ordering::Relaxed)
    }

    fn failed(&self, error: &str) {
        let until = (self.epoch.elapsed() + REDIS_RETRY_AFTER).as_millis() as u64;
        self.skip_until_ms.store(until, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, "Redis rate limiter unavailable; each node limits on its own until it is back");
        }
    }

    fn succeeded(&self) {
        if self.warned.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis rate limiter is back; limits are cluster-wide again");
        }
    }
}

/// Where key `api_key`'s shared state lives in Redis: 128 bits of its SHA-256, in hex.
fn redis_key(api_key: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("kassa:ratelimit:{}", hex::encode(&Sha256::digest(api_key.as_bytes())[..16]))
}

/// The limiter every request goes through.
#[derive(Default)]
pub struct RateLimiter {
    local: Local,
    shared: Option<Shared>,
}

impl RateLimiter {
    /// A limiter local to this process.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cluster-wide limiter through Redis at `url` (with the local one as fallback). Fails
    /// only on a malformed URL; an unreachable Redis is tolerated.
    pub fn with_redis(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("Redis URL: {e}"))?;
        Ok(Self {
            local: Local::default(),
            shared: Some(Shared {
                client,
                connection: Mutex::new(None),
                script: redis::Script::new(GCRA_SCRIPT),
                skip_until_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                warned: AtomicBool::new(false),
            }),
        })
    }

    pub fn is_cluster_wide(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes one request from the allowance of the key `api_key` (row `key_id`); `Err` carries
    /// how long until the next request would be allowed.
    pub async fn check(&self, key_id: i64, api_key: &str, per_minute: u32) -> Result<(), Duration> {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        if let Some(shared) = self.shared.as_ref().filter(|s| s.available()) {
            match shared.check(api_key, per_minute).await {
                Ok(Some(verdict)) => {
                    shared.succeeded();
                    return verdict;
                }
                Ok(None) => {}
                Err(error) => shared.failed(&error),
            }
        }
        self.local.check(key_id, per_minute)
    }
}

/// Failed authentications per client address: an address whose requests keep failing the key or
/// signature check (a guessing script, a client with the wrong secret in a loop) is turned away
/// for a while before its key is looked up, so it cannot make every request cost a database
/// read. GCRA per address, N failures a minute in bursts of up to N; each process on its own
/// (enough to take the load off the database, which is the point).
pub struct AuthFailures {
    /// The allowance and the limiter counting against it; `None` when the throttle is off. The
    /// limiter is replaced by a fresh one when a spread-out attack fills it (see [`Self::record`]).
    failures: Option<(Quota, std::sync::RwLock<governor::DefaultKeyedRateLimiter<IpAddr>>)>,
    /// Addresses over their allowance, and until when.
    blocked: DashMap<IpAddr, Instant>,
}

impl AuthFailures {
    /// `per_minute` = 0 turns the throttle off.
    pub fn new(per_minute: u32) -> Self {
        let failures = NonZeroU32::new(per_minute)
            .map(Quota::per_minute)
            .map(|quota| (quota, std::sync::RwLock::new(Gcra::keyed(quota))));
        Self { failures, blocked: DashMap::new() }
    }

    /// What is counted: an IPv4 address, or the /64 network of an IPv6 one (a single host
    /// commonly holds a whole /64, so counting its addresses one by one would count nothing).
    fn client(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            },
        }
    }

    /// How long `ip` is still turned away, if it is.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let ip = Self::client(ip);
        let until = *self.blocked.get(&ip)?;
        match until.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Some(left),
            _ => {
                self.blocked.remove_if(&ip, |_, until| *until <= Instant::now());
                None
            }
        }
    }

    /// Counts a failed authentication of `ip`; past its allowance the address is turned away
    /// until the next failure would be allowed.
    pub fn record(&self, ip: IpAddr) {
        let Some((quota, failures)) = &self.failures else { return };
        let ip = Self::client(ip);
        let full = {
            let failures = failures.read().expect("auth failure limiter lock");
            if failures.len() >= MAX_TRACKED {
                // Forget the addresses whose allowance is whole again.
                failures.retain_recent();
            }
            failures.len() >= MAX_TRACKED
        };
        if full {
            // Still full: a spread-out attack. Start over rather than grow.
            *failures.write().expect("auth failure limiter lock") = Gcra::keyed(*quota);
        }
        let checked = failures.read().expect("auth failure limiter lock").check_key(&ip);
        if let Err(not_until) = checked {
            if self.blocked.len() >= MAX_TRACKED {
                let now = Instant::now();
                self.blocked.retain(|_, until| *until > now);
            }
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.blocked.insert(ip, Instant::now() + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn allows_a_burst_of_the_limit_then_refuses() {
        let limiter = RateLimiter::new();
        for _ in 0..3 {
            assert!(limiter.check(1, "key-1", 3).await.is_ok());
        }
        let wait = limiter.check(1, "key-1", 3).await.unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20));
        // Other keys are not affected.
        assert!(limiter.check(2, "key-2", 3).await.is_ok());
    }

    /// A key whose allowance the operator changed gets a limiter of the new allowance. This hung
    /// the request for good until the map entry was let go of before the new one went in.
    #[tokio::test]
    async fn a_changed_allowance_takes_effect_at_once() {
        let limiter = RateLimiter::new();
        for _ in 0..3 {
            assert!(limiter.check(1, "key-1", 600).await.is_ok());
        }
        // On a thread of its own, so a check that hangs fails the test instead of hanging it.
        let limiter = Arc::new(limiter);
        let (answer, answered) = std::sync::mpsc::channel();
        let checking = limiter.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = answer.send(runtime.block_on(checking.check(1, "key-1", 1)).is_ok());
        });
        assert_eq!(answered.recv_timeout(Duration::from_secs(5)), Ok(true), "a fresh allowance of one, at once");
        assert!(limiter.check(1, "key-1", 1).await.is_err(), "and no more");
    }

    #[tokio::test]
    async fn an_unreachable_redis_falls_back_to_the_local_limiter() {
        // Nothing listens on port 1.
        let limiter = RateLimiter::with_redis("redis://127.0.0.1:1").unwrap();
        let started = Instant::now();
        for _ in 0..2 {
            assert!(limiter.check(7, "key-7", 2).await.is_ok());
        }
        assert!(limiter.check(7, "key-7", 2).await.is_err(), "the local limiter still limits");
        assert!(started.elapsed() < Duration::from_secs(2), "a down Redis costs at most one timeout per second");
    }

    /// A Redis that takes connections but never answers: each attempt to connect costs the whole
    /// connect timeout. Requests arriving during one attempt share its failure and are limited
    /// locally; they used to each make an attempt of their own after it, one after another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_do_not_queue_behind_a_redis_that_never_answers() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("redis://{}", silent.local_addr().unwrap());
        std::thread::spawn(move || {
            let held: Vec<_> = silent.incoming().collect();
            drop(held);
        });
        let limiter = Arc::new(RateLimiter::with_redis(&url).unwrap());
        let started = Instant::now();
        let requests: Vec<_> = (0..20)
            .map(|key| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.check(key, &format!("key-{key}"), 600).await })
            })
            .collect();
        for request in requests {
            assert!(request.await.unwrap().is_ok(), "limited locally, within the allowance");
        }
        let waited = started.elapsed();
        assert!(waited < REDIS_TIMEOUT * 2 + Duration::from_millis(700), "20 requests took {waited:?}");
    }

    /// A full table lets go of idle keys' limiters only: a busy key keeps its state, where
    /// clearing the table gave it a whole allowance again.
    #[test]
    fn a_full_table_keeps_the_limiters_of_busy_keys() {
        let local = Local { max_tracked: 10, idle_after: Duration::from_millis(100), ..Local::default() };
        let one = NonZeroU32::MIN;
        assert!(local.check(1, one).is_ok());
        for key in 2..=10 {
            assert!(local.check(key, one).is_ok());
        }
        std::thread::sleep(Duration::from_millis(150));
        assert!(local.check(1, one).is_err(), "key 1 used its allowance");
        // The table is full: keys 2 to 10 have been idle, key 1 has not.
        assert!(local.check(11, one).is_ok());
        assert!(local.check(1, one).is_err(), "key 1's state was kept");
        assert_eq!(local.limiters.len(), 2);
    }

    /// The first requests of a key, racing each other, draw on one allowance.
    #[test]
    fn racing_first_requests_of_a_key_share_one_allowance() {
        let local = Arc::new(Local::default());
        for key in 0..200 {
            let start = Arc::new(std::sync::Barrier::new(4));
            let allowed: usize = (0..4)
                .map(|_| {
                    let (local, start) = (local.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        local.check(key, NonZeroU32::MIN).is_ok()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|thread| thread.join().unwrap() as usize)
                .sum();
            assert_eq!(allowed, 1, "key {key}: an allowance of one let {allowed} through");
        }
    }

    #[test]
    fn failed_authentications_turn_an_address_away_for_a_while() {
        // 600 a minute: a burst of 600, then one more every 100 ms.
        let failures = AuthFailures::new(600);
        let (guesser, neighbour): (IpAddr, IpAddr) = ("203.0.113.7".parse().unwrap(), "203.0.113.8".parse().unwrap());
        for _ in 0..600 {
            failures.record(guesser);
        }
        assert_eq!(failures.blocked(guesser), None, "the allowance is not exceeded yet");
        failures.record(guesser);
        let left = failures.blocked(guesser).expect("turned away past the allowance");
        assert!(left <= Duration::from_millis(100), "{left:?}");
        assert_eq!(failures.blocked(neighbour), None, "per address");
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(failures.blocked(guesser), None, "and let back in");

        // An IPv6 host is counted by its /64; IPv4-mapped addresses as the IPv4 address.
        let v6 = AuthFailures::new(1);
        v6.record("2001:db8:1:2::1".parse().unwrap());
        v6.record("2001:db8:1:2:ffff::7".parse().unwrap());
        assert!(v6.blocked("2001:db8:1:2::99".parse().unwrap()).is_some());
        assert_eq!(v6.blocked("2001:db8:1:3::1".parse().unwrap()), None);
        let mapped = AuthFailures::new(1);
        mapped.record("::ffff:203.0.113.7".parse().unwrap());
        mapped.record("203.0.113.7".parse().unwrap());
        assert!(mapped.blocked("203.0.113.7".parse().unwrap()).is_some());

        let off = AuthFailures::new(0);
        for _ in 0..10_000 {
            off.record(guesser);
        }
        assert_eq!(off.blocked(guesser), None, "0 turns it off");
    }
}
