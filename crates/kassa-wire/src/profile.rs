//! Bodies of the profile dialect (`/profile/...`, `/time`) and its error messages.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The seed's "basic errors", word for word (including its `BB-API-KEY` for the header that is
/// sent as `BB-ACCESS-KEY`), and the messages kassa adds for cases the seed leaves open. Clients
/// match on these strings, so they are defined once, here.
pub mod messages {
    pub const CONTENT_TYPE: &str = "The required content-type is application/json";
    pub const EMPTY_KEY: &str = "Empty BB-API-KEY header";
    pub const EMPTY_SIGN: &str = "Empty BB-ACCESS-SIGN header";
    pub const EMPTY_TIMESTAMP: &str = "Empty BB-ACCESS-TIMESTAMP header";
    pub const TIMESTAMP_EXPIRED: &str = "BB-ACCESS-TIMESTAMP expired";
    pub const UNRECOGNIZED_METHOD: &str = "Unrecognized method. Currently supported: GET,POST,PUT.";
    pub const INVALID_BODY: &str = "Invalid request body";
    pub const INVALID_API_KEY: &str = "Invalid Api Key";
    pub const INVALID_SIGNATURE: &str = "Invalid Signature";
    pub const NO_USER_FIELD: &str = "No user field listed";

    // kassa's additions.
    pub const INVALID_TIMESTAMP: &str = "Invalid BB-ACCESS-TIMESTAMP header";
    pub const ACCOUNT_DISABLED: &str = "Account is disabled";
    pub const IP_NOT_ALLOWED: &str = "IP address is not allowed for this Api Key";
    pub const UNKNOWN_ENDPOINT: &str =
        "Unknown endpoint. Currently supported: profile/me, profile/edit, profile/verify.";
    pub const UNAVAILABLE: &str = "Service temporarily unavailable, retry shortly";
    pub const INTERNAL: &str = "Internal error";

    /// Every fixed message, for the documentation check.
    pub const ALL: &[&str] = &[
        CONTENT_TYPE,
        EMPTY_KEY,
        EMPTY_SIGN,
        EMPTY_TIMESTAMP,
        TIMESTAMP_EXPIRED,
        UNRECOGNIZED_METHOD,
        INVALID_BODY,
        INVALID_API_KEY,
        INVALID_SIGNATURE,
        NO_USER_FIELD,
        INVALID_TIMESTAMP,
        ACCOUNT_DISABLED,
        IP_NOT_ALLOWED,
        UNKNOWN_ENDPOINT,
        UNAVAILABLE,
        INTERNAL,
    ];
}

/// `{"success": true, "response": {...}}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Envelope<T> {
    pub success: bool,
    pub response: T,
}

/// `{"success": false, "errors": ["..."]}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    pub success: bool,
    pub errors: Vec<String>,
}

/// `profile/me`, in the seed's exact shape: every value a string or `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    #[schema(example = "4004")]
    pub id: String,
    pub user_id: String,
    #[schema(required = true)]
    pub first_name: Option<String>,
    #[schema(required = true)]
    pub last_name: Option<String>,
    #[schema(required = true)]
    pub username: Option<String>,
    #[schema(required = true)]
    pub email: Option<String>,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[schema(required = true)]
    pub language: Option<String>,
    #[schema(required = true)]
    pub country: Option<String>,
    #[schema(required = true)]
    pub city: Option<String>,
    #[schema(required = true)]
    pub address: Option<String>,
    #[schema(required = true)]
    pub bio: Option<String>,
    /// `"1"` once an identity verification was approved, else `"0"`.
    #[schema(schema_with = crate::schema::zero_or_one)]
    pub verified: String,
    /// `YYYY-mm-dd HH:MM:SS`, UTC.
    #[schema(example = "2021-08-26 13:12:45")]
    pub created: String,
    #[schema(required = true)]
    pub moderator: Option<String>,
    #[schema(required = true)]
    pub chat_status: Option<String>,
}

/// The fields `profile/edit` may change; absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfileEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
}

/// The body of `profile/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// `passport`, `driving_license` or `nid`.
    #[schema(example = "passport")]
    pub verify_type: String,
    pub first_name: String,
    /// `1` (male) or `2` (female); sent as a number or a string.
    #[schema(schema_with = crate::schema::gender)]
    pub gender: serde_json::Value,
    pub id_number: String,
    /// Base64 of a JPEG, PNG or PDF (told apart by their bytes), up to 10 MiB decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document1: Option<String>,
    /// Base64 of a JPEG, PNG or PDF, passports only (the inner page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document2: Option<String>,
}

impl VerifyRequest {
    /// A submission without documents; add them with [`VerifyRequest::with_document`].
    pub fn new(verify_type: &str, first_name: &str, gender: u8, id_number: &str) -> Self {
        Self {
            verify_type: verify_type.to_string(),
            first_name: first_name.to_string(),
            gender: serde_json::Value::from(gender),
            id_number: id_number.to_string(),
            document1: None,
            document2: None,
        }
    }

    /// Attaches a document's bytes (JPEG, PNG or PDF) as `document1` (`slot` 1) or `document2`.
    pub fn with_document(mut self, slot: u8, bytes: &[u8]) -> Self {
        use base64::Engine;
        let encoded = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        if slot == 2 {
            self.document2 = encoded;
        } else {
            self.document1 = encoded;
        }
        self
    }
}

/// The answer to `profile/verify`: the verification as filed, in the seed's all-strings style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    pub id: String,
    /// `in_process` right after a submission.
    pub status: String,
    pub verify_type: String,
    /// The type the document's bytes were recognized as (`jpg`, `png`, `pdf`), `null` if none sent.
    #[schema(required = true)]
    pub document1: Option<String>,
    #[schema(required = true)]
    pub document2: Option<String>,
    /// `YYYY-mm-dd HH:MM:SS`, UTC.
    pub submitted: String,
}

/// `GET /time`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerTime {
    pub iso: String,
    pub epoch: f64,
}
