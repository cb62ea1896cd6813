//! SDK errors: an API answer with its wire code and extra fields, or a failure to talk at all.

use std::time::Duration;

use kassa_wire::v1::ErrorBody;

use crate::RawResponse;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error body.
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// No answer: connection refused, reset, timed out.
    #[error("network error: {0}")]
    Network(#[source] reqwest::Error),
    /// An answer that is not what the API documents.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The client was given something unusable (a bad base URL, a malformed id).
    #[error("{0}")]
    Config(String),
}

impl Error {
    /// The wire error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api(failure) => Some(&failure.code),
            _ => None,
        }
    }

    pub fn api(&self) -> Option<&ApiFailure> {
        match self {
            Error::Api(failure) => Some(failure),
            _ => None,
        }
    }
}

/// An error answer of the BuyShazam dialect.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// The whole body, with `min`, `max`, `balance`, `required`, `currency`, `details`.
    pub body: Option<ErrorBody>,
    pub retry_after: Option<Duration>,
    pub request_id: Option<String>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)
    }
}

impl ApiFailure {
    pub fn from_response(raw: &RawResponse) -> Self {
        let body: Option<ErrorBody> = serde_json::from_slice(&raw.body).ok();
        let retry_after = raw.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
        let (code, message) = match &body {
            Some(b) => (b.error.clone(), b.message.clone()),
            None => (format!("http_{}", raw.status), String::from_utf8_lossy(&raw.body).chars().take(200).collect()),
        };
        Self {
            status: raw.status,
            code,
            message,
            body,
            retry_after,
            request_id: raw.header("x-request-id").map(str::to_string),
        }
    }

    /// Whether the server refused the request's signature as already used for an order: the
    /// same body signed in the same second as an earlier order.
    pub fn is_signature_reuse(&self) -> bool {
        self.code == "duplicate_order"
            && self.body.as_ref().and_then(|b| b.details.as_ref()).is_some_and(|d| d.contains_key("X-Signature"))
    }

    /// Whether the same request may simply be sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.code.as_str(), "customer_wallet_locked" | "rate_limited" | "database_unavailable")
    }
}
