//! The two request-signing schemes. Each module has the signer an integrator (or the SDK) uses
//! and the verifier the server uses; both share one prehash builder so they cannot drift apart.

pub mod buyshazam;
pub mod profile;
pub mod webhook;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Constant-time check of `expected` against the HMAC of `message` under `key`.
pub(crate) fn hmac_matches(key: &[u8], message: &[u8], expected: &[u8]) -> bool {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.verify_slice(expected).is_ok()
}
