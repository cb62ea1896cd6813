//! Authentication shared by both dialects: finding the key, opening its secret, the client's
//! address and its allow-list. Each dialect (`v1`, `profile`) checks its own headers and
//! signature and renders failures in its own envelope.

pub mod client_ip;
pub mod profile;
pub mod v1;

use axum::http::request::Parts;
use kassa_core::crypto::CryptoError;
use kassa_core::ids::looks_like_api_key;
use kassa_store::{AuthRecord, CustomerStatus, KeyStatus, StoreError};

use self::client_ip::{allowed, client_ip};
use crate::state::AppState;

/// The associated data that binds a sealed API secret to its key.
pub fn secret_context(api_key: &str) -> String {
    format!("api_secret:{api_key}")
}

/// Why a key could not be used.
#[derive(Debug)]
pub enum KeyFailure {
    /// No such key, or not active.
    Invalid,
    Store(StoreError),
    /// The sealed secret does not open: wrong master key or a damaged row.
    Secret(CryptoError),
}

/// A key that exists and is active, with its secret in clear (kept only for this request).
pub struct KeyInUse {
    pub record: AuthRecord,
    pub secret: String,
}

pub async fn find_key(state: &AppState, api_key: &str) -> Result<KeyInUse, KeyFailure> {
    if !looks_like_api_key(api_key) {
        return Err(KeyFailure::Invalid);
    }
    let record = state.store.auth_record(api_key).await.map_err(KeyFailure::Store)?.ok_or(KeyFailure::Invalid)?;
    if record.key.status != KeyStatus::Active {
        return Err(KeyFailure::Invalid);
    }
    let secret = match state.secrets.get(record.key.id, &record.secret_sealed) {
        Some(secret) => secret,
        None => {
            let secret =
                state.vault.open(&record.secret_sealed, &secret_context(api_key)).map_err(KeyFailure::Secret)?;
            let secret = String::from_utf8(secret).map_err(|_| KeyFailure::Secret(CryptoError::Malformed))?;
            state.secrets.put(record.key.id, &record.secret_sealed, &secret);
            secret
        }
    };
    Ok(KeyInUse { record, secret })
}

/// Opened API secrets, so a busy key is not decrypted on every request. An entry is used only
/// while the key's sealed secret in the database is byte for byte the one it was opened from,
/// and the key row (status, customer) is still read on every request: a revoked or disabled key
/// is refused at once, cache or not.
#[derive(Default)]
pub struct SecretCache {
    entries: dashmap::DashMap<i64, (Vec<u8>, String)>,
}

impl SecretCache {
    /// Most keys kept; beyond it the cache starts over (it only saves a decryption).
    const MAX_ENTRIES: usize = 100_000;

    fn get(&self, key_id: i64, sealed: &[u8]) -> Option<String> {
        self.entries.get(&key_id).filter(|entry| entry.0 == sealed).map(|entry| entry.1.clone())
    }

    fn put(&self, key_id: i64, sealed: &[u8], secret: &str) {
        if self.entries.len() >= Self::MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(key_id, (sealed.to_vec(), secret.to_string()));
    }
}

/// Whole seconds to wait, rounded up (for `Retry-After`).
fn retry_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// Seconds the client's address is still turned away for failing authentication too often, if
/// it is: checked before the key is looked up, so such requests cost no database read.
pub fn throttled(state: &AppState, parts: &Parts) -> Option<u64> {
    let ip = client_ip(parts, &state.config.trusted_proxies)?;
    state.auth_failures.blocked(ip).map(retry_secs)
}

/// Counts an unknown key or a wrong signature against the client's address.
pub fn failed(state: &AppState, parts: &Parts) {
    if let Some(ip) = client_ip(parts, &state.config.trusted_proxies) {
        state.auth_failures.record(ip);
    }
}

/// Why a correctly signed request is still turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The operator disabled the key's customer (or the customer row is gone).
    CustomerDisabled,
    /// The client address is not in the key's allow-list.
    IpNotAllowed,
    /// The key's per-minute allowance is used up; retry after this many seconds.
    RateLimited { retry_after_secs: u64 },
}

/// The checks after the signature, in this order: the customer, the client address, the rate.
/// One code path for both dialects, so a key's allow-list and allowance mean the same whichever
/// API it calls (both draw from the one per-key limiter).
pub async fn admit(state: &AppState, parts: &Parts, record: &AuthRecord) -> Result<(), Refusal> {
    if record.customer_status != Some(CustomerStatus::Active) {
        return Err(Refusal::CustomerDisabled);
    }
    if !allowed(client_ip(parts, &state.config.trusted_proxies), &record.key.allowed_ips) {
        return Err(Refusal::IpNotAllowed);
    }
    state
        .limiter
        .check(record.key.id, &record.key.api_key, record.key.rate_limit_per_minute)
        .await
        .map_err(|wait| Refusal::RateLimited { retry_after_secs: retry_secs(wait) })
}
