//! `ProfileError`: the one error type of the profile dialect. It renders the seed's envelope,
//! `{"success": false, "errors": ["..."]}`, with an HTTP status that fits, and logs internal
//! causes instead of sending them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kassa_core::verification::VerificationRefusal;
use kassa_store::StoreError;
use kassa_wire::profile::{messages, ErrorEnvelope};

#[derive(Debug)]
pub struct ProfileError {
    status: StatusCode,
    errors: Vec<String>,
    retry_after: Option<u64>,
    allow: Option<&'static str>,
}

impl ProfileError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self::list(status, vec![message.into()])
    }

    /// Several problems at once (every invalid field of a body).
    pub fn list(status: StatusCode, errors: Vec<String>) -> Self {
        Self { status, errors, retry_after: None, allow: None }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// The methods the endpoint takes, sent as `Allow` with a 405.
    pub fn allow(mut self, methods: &'static str) -> Self {
        self.allow = Some(methods);
        self
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn invalid_body() -> Self {
        Self::new(StatusCode::BAD_REQUEST, messages::INVALID_BODY)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, format!("Request body is larger than {limit} bytes"))
    }

    /// A request that does not fit the verification's state: 409, the seed's message.
    pub fn refused(refusal: VerificationRefusal) -> Self {
        Self::new(StatusCode::CONFLICT, refusal.to_string())
    }

    /// An unexpected failure: logged with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error in the profile API");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, messages::INTERNAL)
    }

    pub fn from_store(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, messages::UNAVAILABLE).retry_after(1)
            }
            // Concurrent writes kept conflicting through the store's bounded retries: nothing
            // was changed, and the same request can simply be sent again.
            StoreError::Contention(cause) => {
                tracing::warn!(error = %cause, "contention after bounded retries");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, messages::UNAVAILABLE).retry_after(1)
            }
            StoreError::Verification(refusal) => Self::refused(refusal),
            StoreError::Taken { field } => Self::new(StatusCode::CONFLICT, format!("{field} is already taken")),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ProfileError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorEnvelope { success: false, errors: self.errors })).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(methods) = self.allow {
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(methods));
        }
        response
    }
}
