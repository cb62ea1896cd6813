//! `ApiError`: the one error type of the BuyShazam dialect. It renders the seed's envelope
//! (`{"success": false, "error", "message", ...extra}`) with the code's exact HTTP status, and
//! logs internal causes instead of sending them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kassa_core::catalog::OrderRefusal;
use kassa_core::validation::Rejection;
use kassa_core::{Currency, ErrorCode};
use kassa_store::{ActionRefusal, StoreError};
use kassa_wire::v1::ErrorBody;
use kassa_wire::Amount;
use serde_json::{Map, Value};

#[derive(Debug)]
pub struct ApiError {
    /// Boxed: errors travel through every `Result` of the handlers and should stay small.
    pub body: Box<ErrorBody>,
    status: StatusCode,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            body: Box::new(ErrorBody::new(code.as_str(), code.message())),
            status: StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    pub fn code(&self) -> &str {
        &self.body.error
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.body.message = message.into();
        self
    }

    pub fn with_detail(mut self, field: &str, detail: impl Into<String>) -> Self {
        self.body.details.get_or_insert_with(Map::new).insert(field.to_string(), Value::String(detail.into()));
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.body.retry_after = Some(seconds.max(1));
        self
    }

    /// An unexpected failure: logged with its cause, answered with `code` and no details.
    pub fn internal(code: ErrorCode, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, code = code.as_str(), "internal error");
        Self::new(code)
    }

    /// A store failure on a path whose unexpected errors answer `fallback`.
    pub fn from_store(error: StoreError, fallback: ErrorCode) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::new(ErrorCode::DatabaseUnavailable).retry_after(1)
            }
            StoreError::Contention(cause) => {
                tracing::warn!(error = %cause, "contention after bounded retries");
                ApiError::new(ErrorCode::CustomerWalletLocked).retry_after(1)
            }
            StoreError::NotAllowed(refusal) => ApiError::new(match refusal {
                ActionRefusal::CancelNotSupported => ErrorCode::CancelNotSupported,
                ActionRefusal::NotCancelable => ErrorCode::OrderNotCancelable,
                ActionRefusal::InProgress => return ApiError::new(ErrorCode::OrderInProgress).retry_after(2),
                ActionRefusal::RefillNotSupported => ErrorCode::RefillNotSupported,
                ActionRefusal::NotRefillable => ErrorCode::OrderNotRefillable,
            }),
            other => ApiError::internal(fallback, other),
        }
    }

    /// An order refused by a business rule, with the extra fields the seed documents.
    pub fn refused(refusal: OrderRefusal, currency: &Currency) -> Self {
        let error = ApiError::new(refusal.code());
        match refusal {
            OrderRefusal::QuantityBelowMinimum { min } => {
                let mut e =
                    error.with_message(format!("The requested quantity is below the service minimum of {min}."));
                e.body.min = Some(min);
                e
            }
            OrderRefusal::QuantityAboveMaximum { max } => {
                let mut e =
                    error.with_message(format!("The requested quantity is above the service maximum of {max}."));
                e.body.max = Some(max);
                e
            }
            OrderRefusal::InsufficientBalance { balance, required } => {
                let mut e = error;
                e.body.balance = Some(Amount(currency.to_decimal(balance)));
                e.body.required = Some(Amount(currency.to_decimal(required)));
                e.body.currency = Some(currency.code().to_string());
                e
            }
            OrderRefusal::InvalidCustomComments(detail) => error.with_detail("custom_comments", detail),
            OrderRefusal::IdempotencyKeyReused => error
                .with_message("This idempotency key was already used for a different order request.")
                .with_detail("X-Idempotency-Key", "already used with a different body"),
            OrderRefusal::SignatureReused => error
                .with_message("This signed request was already used for an order; sign every request anew.")
                .with_detail("X-Signature", "already used"),
            OrderRefusal::ClientOrderRefReused => error
                .with_message("This client_order_ref was already used for another order.")
                .with_detail("client_order_ref", "already used"),
            OrderRefusal::InFlight => error.retry_after(1),
            OrderRefusal::ServiceNotFound | OrderRefusal::ServiceNotAllowed | OrderRefusal::CustomerNotFound => error,
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let error = ApiError::new(rejection.code);
        match (rejection.field, rejection.detail) {
            (Some(field), Some(detail)) => error.with_detail(field, detail),
            _ => error,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.body.retry_after;
        let mut response = (self.status, Json(*self.body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
