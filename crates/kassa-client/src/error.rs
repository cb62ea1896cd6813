//! SDK errors: an API answer with its wire code (or the profile dialect's messages) and extra
//! fields, or a failure to talk at all.

use std::time::Duration;

use kassa_wire::v1::ErrorBody;

use crate::RawResponse;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `/api/v1` endpoint answered with an error body.
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// A `/profile` endpoint answered with an error body.
    #[error("{0}")]
    Profile(Box<ProfileFailure>),
    /// No answer: connection refused, reset, timed out.
    #[error("network error: {0}")]
    Network(#[source] reqwest::Error),
    /// An answer that is not what the API documents.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The client was given something unusable (a bad base URL, a malformed id, a secret that is
    /// not base64 for the profile API).
    #[error("{0}")]
    Config(String),
    /// A call made under an idempotency key gave up without an outcome (no answer, or the server
    /// kept asking to retry): it may or may not have acted. The same call with the same key
    /// answers what it did, and never acts twice.
    #[error("{source} (outcome unknown: repeat the call with idempotency key {idempotency_key})")]
    Unconfirmed {
        idempotency_key: String,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The failure itself, seen through [`Error::Unconfirmed`].
    pub fn inner(&self) -> &Error {
        match self {
            Error::Unconfirmed { source, .. } => source.inner(),
            other => other,
        }
    }

    /// The idempotency key to repeat the call with, when its outcome is unknown.
    pub fn idempotency_key(&self) -> Option<&str> {
        match self {
            Error::Unconfirmed { idempotency_key, .. } => Some(idempotency_key),
            _ => None,
        }
    }

    /// The wire error code, if a `/api/v1` endpoint answered with one.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|failure| failure.code.as_str())
    }

    pub fn api(&self) -> Option<&ApiFailure> {
        match self.inner() {
            Error::Api(failure) => Some(failure),
            _ => None,
        }
    }

    pub fn profile(&self) -> Option<&ProfileFailure> {
        match self.inner() {
            Error::Profile(failure) => Some(failure),
            _ => None,
        }
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self.inner() {
            Error::Api(failure) => Some(failure.status),
            Error::Profile(failure) => Some(failure.status),
            _ => None,
        }
    }
}

/// What the client does after an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Measure the clock skew against `GET /time`, then send again.
    SyncClock,
    /// Wait for the next second and sign again (a signature may place one order only).
    Resign,
    /// Send the same request again after this long.
    RetryAfter(Duration),
    /// Give up: the answer is final.
    GiveUp,
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

fn retry_after(raw: &RawResponse) -> Option<Duration> {
    raw.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

impl ApiFailure {
    pub fn from_response(raw: &RawResponse) -> Self {
        let body: Option<ErrorBody> = serde_json::from_slice(&raw.body).ok();
        let (code, message) = match &body {
            Some(b) => (b.error.clone(), b.message.clone()),
            None => (format!("http_{}", raw.status), String::from_utf8_lossy(&raw.body).chars().take(200).collect()),
        };
        Self {
            status: raw.status,
            code,
            message,
            body,
            retry_after: retry_after(raw),
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

    /// Whether the server refused the request before acting on it. `database_unavailable` is not:
    /// a request that timed out on the server is answered with it too, whatever it had done.
    pub(crate) fn refused_before_acting(&self) -> bool {
        self.code == "rate_limited"
    }

    /// What an integrator should do about it, in a sentence.
    pub fn hint(&self) -> Option<&'static str> {
        hint(&self.code)
    }

    pub(crate) fn next(&self) -> Next {
        if self.code == "timestamp_out_of_range" {
            Next::SyncClock
        } else if self.is_signature_reuse() {
            Next::Resign
        } else if self.is_retryable() {
            Next::RetryAfter(self.retry_after.unwrap_or(Duration::from_secs(1)))
        } else {
            Next::GiveUp
        }
    }
}

/// An error answer of the profile dialect: `{"success": false, "errors": [...]}`.
#[derive(Debug, Clone)]
pub struct ProfileFailure {
    pub status: u16,
    /// The messages, word for word (`Invalid Signature`, `Verification is already in process.`).
    pub errors: Vec<String>,
    pub retry_after: Option<Duration>,
    pub request_id: Option<String>,
}

impl std::fmt::Display for ProfileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.errors.join("; "))
    }
}

impl ProfileFailure {
    pub fn from_response(raw: &RawResponse) -> Self {
        let errors = serde_json::from_slice::<kassa_wire::profile::ErrorEnvelope>(&raw.body)
            .map(|envelope| envelope.errors)
            .unwrap_or_else(|_| vec![String::from_utf8_lossy(&raw.body).chars().take(200).collect()]);
        Self {
            status: raw.status,
            errors,
            retry_after: retry_after(raw),
            request_id: raw.header("x-request-id").map(str::to_string),
        }
    }

    /// Whether the server refused the request before acting on it (a 429 comes from the checks
    /// before any handler; a 503 may come from a request that timed out after acting).
    pub(crate) fn refused_before_acting(&self) -> bool {
        self.status == 429
    }

    pub(crate) fn next(&self) -> Next {
        if self.status == 401 && self.errors.iter().any(|e| e == kassa_wire::profile::messages::TIMESTAMP_EXPIRED) {
            Next::SyncClock
        } else if matches!(self.status, 429 | 503) {
            Next::RetryAfter(self.retry_after.unwrap_or(Duration::from_secs(1)))
        } else {
            Next::GiveUp
        }
    }
}

/// A hint for each code an integrator can act on.
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "missing_auth_headers" | "invalid_signature" => {
            "check KASSA_API_KEY and KASSA_API_SECRET: the secret is the one shown once when the key was made"
        }
        "invalid_api_key" => "the key is unknown, disabled or revoked: ask the operator for a working key",
        "invalid_timestamp" | "timestamp_out_of_range" => "this machine's clock is off: synchronise it (NTP)",
        "ip_not_allowed" => "this address is not on the key's allow-list: ask the operator to add it",
        "rate_limited" => "the key's per-minute limit is used up: wait for Retry-After and slow down",
        "service_not_found" => "list the services you may order with `kassa api services`",
        "service_not_allowed" => "this key may not order that service: ask the operator",
        "quantity_below_minimum" | "quantity_above_maximum" => "see min and max in `kassa api services`",
        "insufficient_wallet_balance" => "top up the wallet, or order less",
        "duplicate_order" => {
            "that idempotency key or client_order_ref was used for another order: use a new one, or look the order up"
        }
        "customer_wallet_locked" => "the same order is still being processed: retry with the same idempotency key",
        "order_not_found" => "check the order id (BSAPI-...); orders of other customers are not visible",
        "database_unavailable" => "the server's database is down for a moment: retry shortly",
        "invalid_custom_comments" => "send one comment per line, as many lines as the quantity",
        _ => return None,
    })
}
