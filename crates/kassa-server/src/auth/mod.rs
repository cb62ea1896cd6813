//! Authentication shared by both dialects: finding the key, opening its secret, the client's
//! address and its allow-list. Each dialect (`v1`, `profile`) checks its own headers and
//! signature and renders failures in its own envelope.

pub mod client_ip;
pub mod v1;

use kassa_core::crypto::CryptoError;
use kassa_core::ids::looks_like_api_key;
use kassa_store::{AuthRecord, KeyStatus, StoreError};

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
    let secret = state.vault.open(&record.secret_sealed, &secret_context(api_key)).map_err(KeyFailure::Secret)?;
    let secret = String::from_utf8(secret).map_err(|_| KeyFailure::Secret(CryptoError::Malformed))?;
    Ok(KeyInUse { record, secret })
}
