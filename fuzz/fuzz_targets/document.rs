//! The document decoder: a document it accepts is one of the three types by its bytes, within
//! the size cap; anything else is refused with a reason, never a panic.
#![no_main]

use kassa_core::document::{decode, DocumentType, MAX_DOCUMENT_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(Some(document)) = decode(text) {
        assert!(!document.bytes.is_empty() && document.bytes.len() <= MAX_DOCUMENT_BYTES);
        assert_eq!(DocumentType::sniff(&document.bytes), Some(document.kind));
    }
});
