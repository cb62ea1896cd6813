//! Both prehash builders: a signature made for a request verifies for it, and not for a request
//! that differs in any signed part.
#![no_main]

use arbitrary::Arbitrary;
use kassa_wire::sign::{buyshazam, profile};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    secret: &'a str,
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    timestamp: &'a str,
    body: &'a [u8],
    flip: u8,
}

fuzz_target!(|input: Input| {
    let Input { secret, method, path, query, timestamp, body, flip } = input;
    // BuyShazam: the signature over the path with the query, or without it.
    let signed_path = match query {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    };
    let hex = buyshazam::sign(secret, method, &signed_path, timestamp, body);
    let signature = buyshazam::parse_signature(&hex).expect("our own signature parses");
    let request = buyshazam::SignedRequest { method, path, query, timestamp, body };
    assert!(request.verify(secret, &signature));
    let mut tampered = body.to_vec();
    tampered.push(flip);
    let other = buyshazam::SignedRequest { body: &tampered, ..request };
    assert!(!other.verify(secret, &signature));

    // Profile: key = base64-decoded secret; method in either case.
    let key = base64_secret(secret);
    let request_path = signed_path.as_str();
    if let Ok(sig) = profile::sign(&key, timestamp, &method.to_ascii_lowercase(), request_path, body) {
        let parsed = profile::parse_signature(&sig).expect("our own signature parses");
        let hmac_key = profile::hmac_key(&key).unwrap();
        let request = profile::SignedRequest { method, request_path, timestamp, body };
        assert!(request.verify(&hmac_key, &parsed));
        let other = profile::SignedRequest { body: &tampered, ..request };
        assert!(!other.verify(&hmac_key, &parsed));
    }
});

fn base64_secret(secret: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = secret.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
