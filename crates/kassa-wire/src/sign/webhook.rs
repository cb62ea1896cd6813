//! Standard Webhooks signatures (<https://www.standardwebhooks.com>):
//!
//! ```text
//! webhook-id:        msg_...
//! webhook-timestamp: Unix seconds
//! webhook-signature: v1,base64(HMAC_SHA256(base64_decode(secret without "whsec_"), id + "." + timestamp + "." + body))
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{hmac_matches, hmac_sha256};

pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is whsec_ followed by base64")]
pub struct BadSecret;

fn key(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(encoded).map_err(|_| BadSecret)
}

/// A new signing secret from 24 random bytes.
pub fn secret_from_bytes(bytes: &[u8; 24]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header value.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let key = key(secret)?;
    let mut signed = format!("{message_id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    Ok(format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed))))
}

/// Checks a `webhook-signature` header (which may list several space-separated signatures).
pub fn verify(secret: &str, message_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(key) = key(secret) else { return false };
    let mut signed = format!("{message_id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|sig| hmac_matches(&key, &signed, &sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The test vector of the Standard Webhooks reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(secret, id, 1614265330, body).unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(secret, id, 1614265330, body, &format!("v1,bogus {signature}")));
        assert!(!verify(secret, id, 1614265331, body, &signature));
    }
}
