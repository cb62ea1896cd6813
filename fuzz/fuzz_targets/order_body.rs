//! The order body: any bytes are either refused with a code or give a request within the limits.
#![no_main]

use kassa_core::validation::{OrderRequest, MAX_CLIENT_ORDER_REF_LEN, MAX_LINK_LEN, MAX_QUANTITY};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else { return };
    if let Ok(request) = OrderRequest::from_json(&value) {
        assert!(request.service_id > 0);
        assert!(request.quantity > 0 && request.quantity <= MAX_QUANTITY);
        assert!(!request.link.is_empty() && request.link.len() <= MAX_LINK_LEN);
        assert!(!request.link.chars().any(char::is_control));
        if let Some(reference) = &request.client_order_ref {
            assert!((1..=MAX_CLIENT_ORDER_REF_LEN).contains(&reference.chars().count()));
        }
        if let Some(comments) = &request.custom_comments {
            assert!(comments.iter().all(|c| !c.is_empty() && !c.contains('\n')));
        }
        let _ = request.fingerprint();
    }
});
