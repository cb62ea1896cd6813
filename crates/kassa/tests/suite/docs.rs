//! The documentation names every error code the code knows, so neither drifts from the other.

use kassa_core::ErrorCode;

#[test]
fn api_docs_list_every_error_code() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md")).expect("docs/api.md");
    let missing: Vec<&str> =
        ErrorCode::ALL.iter().map(|c| c.as_str()).filter(|c| !docs.contains(&format!("`{c}`"))).collect();
    assert!(missing.is_empty(), "docs/api.md does not mention {missing:?}");
}
