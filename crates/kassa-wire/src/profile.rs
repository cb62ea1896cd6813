//! Bodies of the profile dialect (`/profile/...`, `/time`).

use serde::{Deserialize, Serialize};

/// `{"success": true, "response": {...}}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub response: T,
}

/// `{"success": false, "errors": ["..."]}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub success: bool,
    pub errors: Vec<String>,
}

/// `profile/me`, in the seed's exact shape: every value a string or `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    pub user_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub bio: Option<String>,
    /// `"1"` once an identity verification was approved, else `"0"`.
    pub verified: String,
    /// `YYYY-mm-dd HH:MM:SS`, UTC.
    pub created: String,
    pub moderator: Option<String>,
    pub chat_status: Option<String>,
}

/// The fields `profile/edit` may change; absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRequest {
    pub verify_type: String,
    pub first_name: String,
    /// `1` (male) or `2` (female); sent as a number or a string.
    pub gender: serde_json::Value,
    pub id_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document2: Option<String>,
}

/// `GET /time`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerTime {
    pub iso: String,
    pub epoch: f64,
}
