//! Header parsing of both dialects: never panics, and what parses is what was sent.
#![no_main]

use kassa_wire::sign::{buyshazam, profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(bytes) = buyshazam::parse_signature(text) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let sent = text.trim();
        let sent = sent.get(..7).filter(|p| p.eq_ignore_ascii_case("sha256=")).map(|_| &sent[7..]).unwrap_or(sent);
        assert_eq!(hex, sent.to_ascii_lowercase());
    }
    if let Ok(ts) = buyshazam::parse_timestamp(text) {
        // Digits only (a leading "-" was the first crash this target found).
        let digits = text.trim();
        assert!(ts >= 0 && digits.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(digits.parse::<i64>().ok(), Some(ts));
    }
    if let Ok(millis) = profile::parse_timestamp_millis(text) {
        assert!(millis >= 0);
        assert_eq!(millis / 1000, text.trim().split('.').next().unwrap().parse::<i64>().unwrap());
    }
    let _ = profile::parse_signature(text);
    let _ = profile::hmac_key(text);
});
