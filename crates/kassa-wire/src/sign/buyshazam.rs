//! The BuyShazam scheme (`/api/v1/...`):
//!
//! ```text
//! X-Signature = hex(HMAC_SHA256(secret, METHOD + "\n" + path + "\n" + timestamp + "\n" + hex(sha256(body))))
//! ```
//! The HMAC key is the secret string's UTF-8 bytes. The header may be lower- or upper-case hex,
//! optionally prefixed `sha256=`. `path` is the request path as sent; when the request has a
//! query string the server accepts a signature over the path with the query and one over the
//! bare path, because clients in the wild do both.

use sha2::{Digest, Sha256};

use super::{hmac_matches, hmac_sha256};

/// How far `X-Timestamp` may be from the server clock, in seconds.
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("X-Signature is not 64 hex characters (optionally prefixed sha256=)")]
    BadSignature,
    #[error("X-Timestamp is not an integer number of Unix seconds")]
    BadTimestamp,
}

/// `hex(sha256(body))`; the empty body hashes the empty string.
pub fn body_hash_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The signed message: `METHOD\npath\ntimestamp\nbody_sha256`.
pub fn message(method: &str, path: &str, timestamp: &str, body_sha256_hex: &str) -> String {
    let mut m = String::with_capacity(method.len() + path.len() + timestamp.len() + body_sha256_hex.len() + 3);
    m.push_str(method);
    m.push('\n');
    m.push_str(path);
    m.push('\n');
    m.push_str(timestamp);
    m.push('\n');
    m.push_str(body_sha256_hex);
    m
}

/// The lower-case hex signature a client sends (without the optional `sha256=` prefix).
pub fn sign(secret: &str, method: &str, path: &str, timestamp: &str, body: &[u8]) -> String {
    let msg = message(method, path, timestamp, &body_hash_hex(body));
    hex::encode(hmac_sha256(secret.as_bytes(), msg.as_bytes()))
}

/// Parses `X-Signature`: 64 hex digits in either case, optionally after `sha256=`.
pub fn parse_signature(header: &str) -> Result<[u8; 32], HeaderError> {
    let header = header.trim();
    let hex_part = match header.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &header[7..],
        _ => header,
    };
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| HeaderError::BadSignature)?;
    Ok(out)
}

/// Parses `X-Timestamp`: Unix seconds as decimal digits, nothing else (no sign, no fraction).
pub fn parse_timestamp(header: &str) -> Result<i64, HeaderError> {
    let t = header.trim();
    if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::BadTimestamp);
    }
    t.parse().map_err(|_| HeaderError::BadTimestamp)
}

/// Whether `timestamp` is inside the ±[`TIMESTAMP_WINDOW_SECS`] window around `now`.
pub fn timestamp_in_window(timestamp: i64, now: i64) -> bool {
    (now - TIMESTAMP_WINDOW_SECS..=now + TIMESTAMP_WINDOW_SECS).contains(&timestamp)
}

/// A request as the server received it, reduced to what the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent, without the query string.
    pub path: &'a str,
    /// The query string as sent, without the `?`.
    pub query: Option<&'a str>,
    /// The `X-Timestamp` header exactly as sent.
    pub timestamp: &'a str,
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    /// Verifies `signature` in constant time against every accepted form of the path.
    pub fn verify(&self, secret: &str, signature: &[u8; 32]) -> bool {
        let body_hash = body_hash_hex(self.body);
        let check = |path: &str| {
            let msg = message(self.method, path, self.timestamp, &body_hash);
            hmac_matches(secret.as_bytes(), msg.as_bytes(), signature)
        };
        match self.query {
            // An empty query (`/api/v1/orders?`) is still part of the path as sent.
            Some(query) => {
                let full = format!("{}?{}", self.path, query);
                // Evaluate both so timing does not tell which form the server tried first.
                let with_query = check(&full);
                let bare = check(self.path);
                with_query | bare
            }
            _ => check(self.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_seed_definition() {
        // Computed independently with Python's hmac/hashlib for this exact input.
        let body = br#"{"service_id":123,"quantity":1000,"link":"https://www.tiktok.com/@username/video/123"}"#;
        let sig = sign("your_api_secret", "POST", "/api/v1/orders", "1710000000", body);
        assert_eq!(sig, "a63a8588ecb109c7b00f7531db75803784b9814785bbf9d01dc8ee40a232faae");
        let parsed = parse_signature(&format!("sha256={}", sig.to_uppercase())).unwrap();
        let request =
            SignedRequest { method: "POST", path: "/api/v1/orders", query: None, timestamp: "1710000000", body };
        assert!(request.verify("your_api_secret", &parsed));
        assert!(!request.verify("other_secret", &parsed));
        assert_eq!(body_hash_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn accepts_the_path_with_or_without_query() {
        let with = sign("s", "GET", "/api/v1/orders?page=2", "1", b"");
        let bare = sign("s", "GET", "/api/v1/orders", "1", b"");
        let request =
            SignedRequest { method: "GET", path: "/api/v1/orders", query: Some("page=2"), timestamp: "1", body: b"" };
        assert!(request.verify("s", &parse_signature(&with).unwrap()));
        assert!(request.verify("s", &parse_signature(&bare).unwrap()));
        let other = sign("s", "GET", "/api/v1/orders?page=3", "1", b"");
        assert!(!request.verify("s", &parse_signature(&other).unwrap()));

        let empty = SignedRequest { query: Some(""), ..request };
        assert!(empty.verify("s", &parse_signature(&sign("s", "GET", "/api/v1/orders?", "1", b"")).unwrap()));
        assert!(empty.verify("s", &parse_signature(&bare).unwrap()));
    }

    #[test]
    fn header_parsing_is_strict() {
        assert!(parse_signature("sha256=zz").is_err());
        assert!(parse_signature(&"a".repeat(63)).is_err());
        assert!(parse_signature(&format!("SHA256={}", "A".repeat(64))).is_ok());
        assert_eq!(parse_timestamp("1710000000"), Ok(1710000000));
        // "-03" was found by the signature_headers fuzz target: signs are not Unix seconds.
        assert_eq!(parse_timestamp("0017"), Ok(17));
        for bad in ["", "abc", "1.5", "1e9", "+5", "-5", "-03", "99999999999999999999"] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
        assert!(timestamp_in_window(1000, 1300) && !timestamp_in_window(999, 1300));
    }
}
