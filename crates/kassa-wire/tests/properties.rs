//! Property tests of both signing schemes, the CI twins of the `signature_headers` and `prehash`
//! fuzz targets (`fuzz/`): parsing never panics and keeps what was sent; a signature verifies
//! for its request and for no request that differs in a signed part.

use kassa_wire::sign::{buyshazam, profile};
use proptest::prelude::*;

proptest! {
    #[test]
    fn header_parsing_never_panics_and_keeps_what_was_sent(text in ".{0,80}") {
        if let Ok(bytes) = buyshazam::parse_signature(&text) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let sent = text.trim();
            let sent = sent.get(..7).filter(|p| p.eq_ignore_ascii_case("sha256=")).map(|_| &sent[7..]).unwrap_or(sent);
            prop_assert_eq!(hex, sent.to_ascii_lowercase());
        }
        if let Ok(ts) = buyshazam::parse_timestamp(&text) {
            prop_assert!(ts >= 0 && text.trim().bytes().all(|b| b.is_ascii_digit()));
        }
        if let Ok(millis) = profile::parse_timestamp_millis(&text) {
            prop_assert!(millis >= 0);
        }
        let _ = profile::parse_signature(&text);
    }

    #[test]
    fn valid_headers_parse(bytes in proptest::array::uniform32(any::<u8>()), upper: bool, prefix: bool, seconds in 0i64..4_000_000_000) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let hex = if upper { hex.to_uppercase() } else { hex };
        let header = if prefix { format!("sha256={hex}") } else { hex };
        prop_assert_eq!(buyshazam::parse_signature(&header), Ok(bytes));
        prop_assert_eq!(buyshazam::parse_timestamp(&seconds.to_string()), Ok(seconds));
    }

    #[test]
    fn buyshazam_signatures_bind_every_signed_part(
        secret in "[ -~]{1,40}",
        method in "(GET|POST|PUT|DELETE)",
        path in "/[a-z0-9/]{0,30}",
        query in proptest::option::of("[a-z0-9=&]{1,20}"),
        timestamp in "[0-9]{1,12}",
        body in proptest::collection::vec(any::<u8>(), 0..200),
        extra in any::<u8>(),
    ) {
        let signed_path = match &query { Some(q) => format!("{path}?{q}"), None => path.clone() };
        let signature = buyshazam::parse_signature(&buyshazam::sign(&secret, &method, &signed_path, &timestamp, &body)).unwrap();
        let request = buyshazam::SignedRequest { method: &method, path: &path, query: query.as_deref(), timestamp: &timestamp, body: &body };
        prop_assert!(request.verify(&secret, &signature));
        let mut other_body = body.clone();
        other_body.push(extra);
        let tampered = buyshazam::SignedRequest { body: &other_body, ..request };
        prop_assert!(!tampered.verify(&secret, &signature));
        let later = format!("{timestamp}0");
        let tampered = buyshazam::SignedRequest { timestamp: &later, ..request };
        prop_assert!(!tampered.verify(&secret, &signature));
        let other_path = format!("{path}x");
        let tampered = buyshazam::SignedRequest { path: &other_path, ..request };
        prop_assert!(!tampered.verify(&secret, &signature));
        let other_secret = format!("{secret}x");
        prop_assert!(!request.verify(&other_secret, &signature));
    }

    #[test]
    fn profile_signatures_bind_every_signed_part(
        key in proptest::collection::vec(any::<u8>(), 1..48),
        method in "(GET|POST|PUT)",
        path in "/profile/[a-z?=0-9]{0,20}",
        timestamp in "[0-9]{10}(\\.[0-9]{1,3})?",
        body in proptest::collection::vec(any::<u8>(), 0..200),
        lower: bool,
    ) {
        use base64::Engine;
        let secret = base64::engine::general_purpose::STANDARD.encode(&key);
        let sent_method = if lower { method.to_lowercase() } else { method.clone() };
        let signature = profile::parse_signature(&profile::sign(&secret, &timestamp, &sent_method, &path, &body).unwrap()).unwrap();
        let request = profile::SignedRequest { method: &method, request_path: &path, timestamp: &timestamp, body: &body };
        prop_assert!(request.verify(&key, &signature));
        let other_path = format!("{path}x");
        let tampered = profile::SignedRequest { request_path: &other_path, ..request };
        prop_assert!(!tampered.verify(&key, &signature));
        let mut other_key = key.clone();
        other_key[0] ^= 1;
        prop_assert!(!request.verify(&other_key, &signature));
    }
}
