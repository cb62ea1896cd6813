//! Property tests of the order body and the document decoder, the CI twins of the `order_body`
//! and `document` fuzz targets (`fuzz/`). Money has its own in `src/money.rs`.

use base64::Engine;
use kassa_core::document::{decode, DocumentType, MAX_DOCUMENT_BYTES};
use kassa_core::validation::{OrderRequest, MAX_LINK_LEN, MAX_QUANTITY};
use proptest::prelude::*;
use serde_json::{json, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::hash_map(
                "(service_id|quantity|link|client_order_ref|custom_comments|x)",
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_body_is_refused_with_a_code_or_within_the_limits(body in json_value()) {
        if let Ok(request) = OrderRequest::from_json(&body) {
            prop_assert!(request.service_id > 0);
            prop_assert!(request.quantity > 0 && request.quantity <= MAX_QUANTITY);
            prop_assert!(!request.link.is_empty() && request.link.len() <= MAX_LINK_LEN);
        }
    }

    #[test]
    fn well_formed_bodies_parse(service in 1i64..1_000_000, quantity in 1u64..1_000_000, link in "https://[a-z]{1,20}\\.com/[a-z0-9]{0,30}", as_strings: bool) {
        let body = if as_strings {
            json!({"service_id": service.to_string(), "quantity": quantity.to_string(), "link": link})
        } else {
            json!({"service_id": service, "quantity": quantity, "link": link})
        };
        let request = OrderRequest::from_json(&body).unwrap();
        prop_assert_eq!((request.service_id, request.quantity, request.link.as_str()), (service, quantity, link.as_str()));
    }

    #[test]
    fn documents_are_typed_by_their_bytes_only(text in ".{0,200}") {
        if let Ok(Some(document)) = decode(&text) {
            prop_assert!(document.bytes.len() <= MAX_DOCUMENT_BYTES);
            prop_assert_eq!(DocumentType::sniff(&document.bytes), Some(document.kind));
        }
    }

    #[test]
    fn encoded_documents_round_trip(kind in 0usize..3, filler in proptest::collection::vec(any::<u8>(), 0..300), wrap: bool) {
        let magic: &[u8] = [&[0xFF, 0xD8, 0xFF][..], &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..], &b"%PDF-"[..]][kind];
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&filler);
        let mut text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        if wrap {
            text = text.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\n");
        }
        let document = decode(&text).unwrap().unwrap();
        prop_assert_eq!(document.bytes, bytes);
    }
}
