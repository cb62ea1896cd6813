//! The profile scheme (`/profile/...`), Coinbase style:
//!
//! ```text
//! BB-ACCESS-SIGN = base64(HMAC_SHA256(base64_decode(secret), timestamp + method + requestPath + body))
//! ```
//! `requestPath` includes the query string. The seed's prose says the method is upper-case and its
//! Python example lower-cases it, so the server accepts either. The timestamp is Unix seconds,
//! decimals allowed, and must be within [`TIMESTAMP_WINDOW_SECS`] of the server clock.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;

use super::{hmac_matches, hmac_sha256};

/// Default allowed distance between `BB-ACCESS-TIMESTAMP` and the server clock, in seconds.
pub const TIMESTAMP_WINDOW_SECS: f64 = 30.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProfileSignError {
    #[error("the API secret is not valid base64")]
    SecretNotBase64,
    #[error("BB-ACCESS-SIGN is not base64 of a 32-byte HMAC")]
    BadSignature,
    #[error("BB-ACCESS-TIMESTAMP is not a number of Unix seconds")]
    BadTimestamp,
}

/// The prehash string: `timestamp + method + requestPath + body`.
pub fn prehash(timestamp: &str, method: &str, request_path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(timestamp.len() + method.len() + request_path.len() + body.len());
    out.extend_from_slice(timestamp.as_bytes());
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(request_path.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Decodes the secret into the HMAC key (standard base64, padding optional).
pub fn hmac_key(secret: &str) -> Result<Vec<u8>, ProfileSignError> {
    let secret = secret.trim();
    STANDARD.decode(secret).or_else(|_| STANDARD_NO_PAD.decode(secret)).map_err(|_| ProfileSignError::SecretNotBase64)
}

/// The `BB-ACCESS-SIGN` value a client sends.
pub fn sign(
    secret: &str,
    timestamp: &str,
    method: &str,
    request_path: &str,
    body: &[u8],
) -> Result<String, ProfileSignError> {
    let key = hmac_key(secret)?;
    Ok(STANDARD.encode(hmac_sha256(&key, &prehash(timestamp, method, request_path, body))))
}

/// Parses `BB-ACCESS-SIGN`: standard base64 of 32 bytes, padding optional.
pub fn parse_signature(header: &str) -> Result<[u8; 32], ProfileSignError> {
    let header = header.trim();
    let bytes = STANDARD
        .decode(header)
        .or_else(|_| STANDARD_NO_PAD.decode(header))
        .map_err(|_| ProfileSignError::BadSignature)?;
    bytes.try_into().map_err(|_| ProfileSignError::BadSignature)
}

/// Parses `BB-ACCESS-TIMESTAMP`: Unix seconds, optionally with a fraction (`1420674445.201`).
/// Returns milliseconds so the window check needs no floating point.
pub fn parse_timestamp_millis(header: &str) -> Result<i64, ProfileSignError> {
    let t = header.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits_ok = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_ok(whole, 12) || !digits_ok(frac, 9) || (t.contains('.') && frac.is_empty()) {
        return Err(ProfileSignError::BadTimestamp);
    }
    let seconds: i64 = whole.parse().map_err(|_| ProfileSignError::BadTimestamp)?;
    let mut millis_text = frac.chars().take(3).collect::<String>();
    while millis_text.len() < 3 {
        millis_text.push('0');
    }
    let millis: i64 = millis_text.parse().map_err(|_| ProfileSignError::BadTimestamp)?;
    Ok(seconds * 1000 + millis)
}

/// A request as the server received it, reduced to what the signature covers.
pub struct SignedRequest<'a> {
    /// The method as the server saw it (upper-case).
    pub method: &'a str,
    /// Path and query string exactly as sent.
    pub request_path: &'a str,
    /// The `BB-ACCESS-TIMESTAMP` header exactly as sent.
    pub timestamp: &'a str,
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    /// Verifies in constant time, accepting the method upper- or lower-case.
    pub fn verify(&self, hmac_key: &[u8], signature: &[u8; 32]) -> bool {
        let upper = self.method.to_ascii_uppercase();
        let lower = self.method.to_ascii_lowercase();
        let a = hmac_matches(hmac_key, &prehash(self.timestamp, &upper, self.request_path, self.body), signature);
        let b = hmac_matches(hmac_key, &prehash(self.timestamp, &lower, self.request_path, self.body), signature);
        a | b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHM="; // base64("secret-key-for-tests")

    #[test]
    fn matches_the_seed_definition() {
        // Computed independently with Python's hmac/base64 for this exact input.
        let sig = sign(SECRET, "1420674445.201", "get", "/profile/me?x=1", b"").unwrap();
        assert_eq!(sig, "qSmRFkD5IbQhdNxmXRnU+5mC2F2KUA1uIOdLEjur2G0=");
        let key = hmac_key(SECRET).unwrap();
        let request =
            SignedRequest { method: "GET", request_path: "/profile/me?x=1", timestamp: "1420674445.201", body: b"" };
        assert!(request.verify(&key, &parse_signature(&sig).unwrap()));
        assert!(request.verify(&key, &parse_signature(sig.trim_end_matches('=')).unwrap()));
        let upper = sign(SECRET, "1420674445.201", "GET", "/profile/me?x=1", b"").unwrap();
        assert!(request.verify(&key, &parse_signature(&upper).unwrap()));
        let other_path = SignedRequest { request_path: "/profile/me", ..request };
        assert!(!other_path.verify(&key, &parse_signature(&sig).unwrap()));
    }

    #[test]
    fn timestamps_allow_decimals() {
        assert_eq!(parse_timestamp_millis("1420674445.201"), Ok(1420674445201));
        assert_eq!(parse_timestamp_millis("1420674445.2"), Ok(1420674445200));
        assert_eq!(parse_timestamp_millis("1420674445.20199"), Ok(1420674445201));
        assert_eq!(parse_timestamp_millis("1420674445"), Ok(1420674445000));
        for bad in ["", ".", "1.", ".5", "-1", "1e9", "abc", "1.2.3"] {
            assert!(parse_timestamp_millis(bad).is_err(), "{bad:?}");
        }
    }
}
