//! Identity verification: the state machine and the rules of a `profile/verify` submission.
//!
//! ```text
//! (none) ──submit──► in_process ──approve──► completed
//!    ▲                   │ ├─────reject───► rejected ──┐
//!    │                   │ └─────cancel───► cancelled   │
//!    └───────────────────┴──────submit again────────────┘ (from rejected only)
//! ```
//! A customer has at most one verification that is not `rejected`: a rejected customer may submit
//! again (fix the photo, resend); `in_process`, `completed` and `cancelled` refuse a new
//! submission with the seed's messages. `cancelled` is the operator closing the case for good.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::document::{self, Document, DocumentSlot};

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!("{other:?} is not one of: {}", [$($text),*].join(", "))),
                }
            }
        }
    };
}

named_enum!(
    /// Where a verification stands.
    VerificationStatus { InProcess = "in_process", Completed = "completed", Rejected = "rejected", Cancelled = "cancelled" }
);

named_enum!(
    /// The identity document a customer verifies with.
    VerifyType { Passport = "passport", DrivingLicense = "driving_license", Nid = "nid" }
);

named_enum!(
    /// What an operator decides about a verification in process.
    ReviewAction { Approve = "approve", Reject = "reject", Cancel = "cancel" }
);

impl ReviewAction {
    pub fn target(self) -> VerificationStatus {
        match self {
            ReviewAction::Approve => VerificationStatus::Completed,
            ReviewAction::Reject => VerificationStatus::Rejected,
            ReviewAction::Cancel => VerificationStatus::Cancelled,
        }
    }
}

/// The seed's gender codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn code(self) -> u8 {
        match self {
            Gender::Male => 1,
            Gender::Female => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Gender::Male),
            2 => Some(Gender::Female),
            _ => None,
        }
    }
}

/// A request that does not fit the verification's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerificationRefusal {
    #[error("Verification is already in process.")]
    AlreadyInProcess,
    #[error("Verification is already completed.")]
    AlreadyCompleted,
    #[error("Verification is cancelled before.")]
    CancelledBefore,
    /// An operator's review of a verification that was already decided.
    #[error("the verification is {status}; only a verification in process can be approved, rejected or cancelled")]
    NotInProcess { status: VerificationStatus },
}

/// Whether a customer whose latest verification is `latest` may submit a new one.
pub fn may_submit(latest: Option<VerificationStatus>) -> Result<(), VerificationRefusal> {
    match latest {
        None | Some(VerificationStatus::Rejected) => Ok(()),
        Some(VerificationStatus::InProcess) => Err(VerificationRefusal::AlreadyInProcess),
        Some(VerificationStatus::Completed) => Err(VerificationRefusal::AlreadyCompleted),
        Some(VerificationStatus::Cancelled) => Err(VerificationRefusal::CancelledBefore),
    }
}

impl VerificationStatus {
    /// The status a review moves a verification to; only one in process can be reviewed.
    pub fn review(self, action: ReviewAction) -> Result<VerificationStatus, VerificationRefusal> {
        match self {
            VerificationStatus::InProcess => Ok(action.target()),
            status => Err(VerificationRefusal::NotInProcess { status }),
        }
    }
}

/// A fresh verification reference: 24 random alphanumerics (about 143 bits), drawn before the
/// verification is written so that its sealed values can name it.
pub fn new_reference() -> String {
    format!("ver_{}", crate::ids::random_token(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 24))
}

/// The associated data sealing a verification's document: a ciphertext opens only as the
/// document of the slot and verification it was sealed for.
pub fn document_context(reference: &str, slot: DocumentSlot) -> String {
    format!("identity_document:{reference}:{}", slot.field())
}

/// The associated data sealing a verification's id number.
pub fn id_number_context(reference: &str) -> String {
    format!("identity_number:{reference}")
}

/// The seed's validation messages, word for word.
pub const VERIFY_TYPE_MESSAGE: &str = "verify_type should have one of following value: passport, driving_license, nid.";
pub const GENDER_MESSAGE: &str = "gender should have one of following value: 1, 2.";

/// The fields of `profile/verify`.
pub const VERIFY_FIELDS: [&str; 6] = ["verify_type", "first_name", "gender", "id_number", "document1", "document2"];
/// Longest `first_name`, in characters.
pub const MAX_FIRST_NAME_CHARS: usize = 100;
/// Longest `id_number`, in characters.
pub const MAX_ID_NUMBER_CHARS: usize = 64;

/// A submission that passed every check. Its `Debug` leaves out the personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifySubmission {
    pub verify_type: VerifyType,
    pub first_name: String,
    pub gender: Gender,
    pub id_number: String,
    /// In slot order; at most one per slot.
    pub documents: Vec<(DocumentSlot, Document)>,
}

impl fmt::Debug for VerifySubmission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifySubmission")
            .field("verify_type", &self.verify_type)
            .field("first_name", &"***")
            .field("gender", &self.gender)
            .field("id_number", &"***")
            .field("documents", &self.documents)
            .finish()
    }
}

/// The JSON text of a value, parsed only as far as needed: documents are megabytes of base64
/// and are read as strings straight from the request body.
fn json_str(raw: &RawValue) -> Option<std::borrow::Cow<'_, str>> {
    serde_json::from_str::<&str>(raw.get())
        .map(std::borrow::Cow::Borrowed)
        .or_else(|_| serde_json::from_str::<String>(raw.get()).map(std::borrow::Cow::Owned))
        .ok()
}

fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

/// Checks a `profile/verify` body (a JSON object, its values unparsed). Every problem is reported
/// at once; unknown fields are refused by name, so a misspelt `document_1` is not silently lost.
pub fn parse_verify(body: &BTreeMap<String, &RawValue>) -> Result<VerifySubmission, Vec<String>> {
    let unknown: Vec<String> = body
        .keys()
        .filter(|k| !VERIFY_FIELDS.contains(&k.as_str()))
        .map(|name| {
            let clean: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
            format!("Unknown field {clean:?}; the fields of profile/verify are {}", VERIFY_FIELDS.join(", "))
        })
        .collect();
    let present = |name: &str| body.get(name).copied().filter(|raw| !is_null(raw));
    let value = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).ok();
    let required = |name: &str| format!("{name} is required");

    let verify_type = match present("verify_type") {
        None => Err(required("verify_type")),
        Some(raw) => match value(raw) {
            // The seed's own text calls it `driver_license` once; both spellings mean one type.
            Some(Value::String(s)) if s.trim() == "driver_license" => Ok(VerifyType::DrivingLicense),
            Some(Value::String(s)) => s.trim().parse::<VerifyType>().map_err(|_| VERIFY_TYPE_MESSAGE.to_string()),
            _ => Err(VERIFY_TYPE_MESSAGE.to_string()),
        },
    };

    let first_name = match present("first_name").map(value) {
        None => Err(required("first_name")),
        Some(Some(Value::String(s))) => first_name(s.trim()),
        Some(_) => Err("first_name must be a string".to_string()),
    };

    let gender = match present("gender").map(value) {
        None => Err(required("gender")),
        Some(Some(Value::Number(n))) => {
            n.as_i64().and_then(Gender::from_code).ok_or_else(|| GENDER_MESSAGE.to_string())
        }
        Some(Some(Value::String(s))) => {
            s.trim().parse::<i64>().ok().and_then(Gender::from_code).ok_or_else(|| GENDER_MESSAGE.to_string())
        }
        Some(_) => Err(GENDER_MESSAGE.to_string()),
    };

    let id_number = match present("id_number").map(value) {
        None => Err(required("id_number")),
        Some(Some(Value::String(s))) if s.trim().is_empty() => Err(required("id_number")),
        Some(Some(Value::String(s))) => id_number(s.trim()),
        // National id numbers are often all digits, and some clients send them as numbers.
        Some(Some(Value::Number(n))) if n.is_u64() => Ok(n.to_string()),
        Some(_) => Err("id_number must be a string".to_string()),
    };

    let mut documents = Vec::new();
    let mut document_errors = Vec::new();
    for slot in DocumentSlot::ALL {
        let Some(raw) = present(slot.field()) else { continue };
        let Some(text) = json_str(raw) else {
            document_errors.push(format!("{} must be a base64 string", slot.field()));
            continue;
        };
        match document::decode(&text) {
            Ok(Some(doc)) => documents.push((slot, doc)),
            Ok(None) => {}
            Err(problem) => document_errors.push(problem.message(slot)),
        }
    }
    // The seed: document2 is the passport's inner page, "for verify_type = passport only".
    if documents.iter().any(|(slot, _)| *slot == DocumentSlot::Two)
        && verify_type.as_ref().is_ok_and(|t| *t != VerifyType::Passport)
    {
        document_errors.push("document2 is accepted for verify_type passport only".to_string());
    }

    match (verify_type, first_name, gender, id_number) {
        (Ok(verify_type), Ok(first_name), Ok(gender), Ok(id_number))
            if unknown.is_empty() && document_errors.is_empty() =>
        {
            Ok(VerifySubmission { verify_type, first_name, gender, id_number, documents })
        }
        (verify_type, first_name, gender, id_number) => {
            let field_errors = [verify_type.err(), first_name.err(), gender.err(), id_number.err()];
            Err(unknown.into_iter().chain(field_errors.into_iter().flatten()).chain(document_errors).collect())
        }
    }
}

fn first_name(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("first_name is required".to_string())
    } else if text.chars().count() > MAX_FIRST_NAME_CHARS {
        Err(format!("first_name must be at most {MAX_FIRST_NAME_CHARS} characters"))
    } else if text.chars().any(char::is_control) {
        Err("first_name must not contain control characters".to_string())
    } else {
        Ok(text.to_string())
    }
}

/// Passport, licence and national id numbers: letters, digits and the separators they are
/// printed with.
fn id_number(text: &str) -> Result<String, String> {
    let ok = text.chars().count() <= MAX_ID_NUMBER_CHARS
        && text.chars().all(|c| c.is_ascii_alphanumeric() || " -/.".contains(c));
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!("id_number must be 1 to {MAX_ID_NUMBER_CHARS} letters, digits, spaces, '-', '/' or '.'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocumentType;
    use base64::Engine;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];

    fn verify(json: &str) -> Result<VerifySubmission, Vec<String>> {
        let body: BTreeMap<String, &RawValue> = serde_json::from_str(json).expect("object");
        parse_verify(&body)
    }

    #[test]
    fn the_state_machine() {
        use VerificationStatus::*;
        assert_eq!(may_submit(None), Ok(()));
        assert_eq!(may_submit(Some(Rejected)), Ok(()));
        assert_eq!(may_submit(Some(InProcess)).unwrap_err().to_string(), "Verification is already in process.");
        assert_eq!(may_submit(Some(Completed)).unwrap_err().to_string(), "Verification is already completed.");
        assert_eq!(may_submit(Some(Cancelled)).unwrap_err().to_string(), "Verification is cancelled before.");
        for &action in ReviewAction::ALL {
            assert_eq!(InProcess.review(action), Ok(action.target()));
            for from in [Completed, Rejected, Cancelled] {
                assert_eq!(from.review(action), Err(VerificationRefusal::NotInProcess { status: from }));
            }
        }
    }

    #[test]
    fn a_complete_submission() {
        let png = base64::engine::general_purpose::STANDARD.encode(PNG);
        let submission = verify(&format!(
            r#"{{"verify_type":"passport","first_name":" Ada ","gender":"2","id_number":"AB 123456","document1":"{png}","document2":null}}"#
        ))
        .unwrap();
        assert_eq!(submission.verify_type, VerifyType::Passport);
        assert_eq!((submission.first_name.as_str(), submission.gender), ("Ada", Gender::Female));
        assert_eq!(submission.documents.len(), 1);
        assert_eq!(submission.documents[0].1.kind, DocumentType::Png);
        assert!(!format!("{submission:?}").contains("AB 123456"));
        let numeric =
            verify(r#"{"verify_type":"driver_license","first_name":"A","gender":1,"id_number":12345}"#).unwrap();
        assert_eq!((numeric.verify_type, numeric.id_number.as_str()), (VerifyType::DrivingLicense, "12345"));
    }

    #[test]
    fn the_seeds_messages_word_for_word() {
        let errors =
            verify(r#"{"verify_type":"visa","first_name":"A","gender":3,"id_number":"1","document1":"TVqQAA=="}"#)
                .unwrap_err();
        assert_eq!(
            errors,
            vec![
                "verify_type should have one of following value: passport, driving_license, nid.",
                "gender should have one of following value: 1, 2.",
                "document1 allowed document types: png,jpg,pdf.",
            ]
        );
    }

    #[test]
    fn missing_fields_and_unknown_fields() {
        let errors = verify(r#"{"document_1":"x"}"#).unwrap_err();
        assert!(errors[0].starts_with("Unknown field \"document_1\""), "{errors:?}");
        assert_eq!(
            errors[1..],
            ["verify_type is required", "first_name is required", "gender is required", "id_number is required"]
        );
        let errors = verify(r#"{"verify_type":"nid","first_name":"   ","gender":"x","id_number":"a<b"}"#).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0], "first_name is required");
        assert_eq!(
            verify(r#"{"verify_type":5,"first_name":"A","gender":1,"id_number":"1"}"#).unwrap_err(),
            vec![VERIFY_TYPE_MESSAGE]
        );
    }

    #[test]
    fn document2_belongs_to_passports() {
        let png = base64::engine::general_purpose::STANDARD.encode(PNG);
        let errors = verify(&format!(
            r#"{{"verify_type":"nid","first_name":"A","gender":1,"id_number":"1","document2":"{png}"}}"#
        ))
        .unwrap_err();
        assert_eq!(errors, vec!["document2 is accepted for verify_type passport only"]);
    }
}
