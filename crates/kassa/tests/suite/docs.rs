//! The documentation names every error code and message the code knows, so neither drifts from
//! the other.

use kassa_core::verification::{VerificationRefusal, GENDER_MESSAGE, VERIFY_TYPE_MESSAGE};
use kassa_core::ErrorCode;
use kassa_wire::profile::messages;

#[test]
fn api_docs_list_every_error_code() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md")).expect("docs/api.md");
    let missing: Vec<&str> =
        ErrorCode::ALL.iter().map(|c| c.as_str()).filter(|c| !docs.contains(&format!("`{c}`"))).collect();
    assert!(missing.is_empty(), "docs/api.md does not mention {missing:?}");
}

#[test]
fn profile_docs_list_every_message() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/profile.md"))
        .expect("docs/profile.md");
    let refusals = [
        VerificationRefusal::AlreadyInProcess,
        VerificationRefusal::AlreadyCompleted,
        VerificationRefusal::CancelledBefore,
    ]
    .map(|r| r.to_string());
    let mut all: Vec<String> = messages::ALL.iter().map(|m| m.to_string()).collect();
    all.extend(refusals);
    all.extend([VERIFY_TYPE_MESSAGE, GENDER_MESSAGE].map(String::from));
    let missing: Vec<&String> = all.iter().filter(|m| !docs.contains(&format!("`{m}`"))).collect();
    assert!(missing.is_empty(), "docs/profile.md does not mention {missing:?}");
    // kassa-core (the rule) and kassa-wire (the SDK's constant) spell the seed's message alike.
    assert_eq!(kassa_core::profile::NO_USER_FIELD, messages::NO_USER_FIELD);
}
