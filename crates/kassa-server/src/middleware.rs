//! Around every request: a request id (echoed or generated, always in `X-Request-Id`), a time
//! limit, and one log line. Only the method, path, status and timing are logged — never headers,
//! query strings, bodies or signatures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kassa_core::ErrorCode;
use kassa_wire::profile::messages;
use tracing::Instrument;

use crate::api::profile::error::ProfileError;
use crate::error::ApiError;
use crate::state::AppState;

/// A process-unique id: a random prefix drawn at start and a counter. Unique, cheap, not secret.
fn next_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| kassa_core::ids::random_token(b"0123456789abcdefghijklmnopqrstuv", 8));
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A client-sent id is kept if it is short and plain, so it can be logged without escaping.
fn usable_client_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    (!text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
        .then(|| text.to_string())
}

pub async fn request_context(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = request.headers().get("x-request-id").and_then(usable_client_id).unwrap_or_else(next_request_id);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let span = tracing::debug_span!("request", id = %request_id, %method, %path);

    let outcome = tokio::time::timeout(state.config.request_timeout, next.run(request).instrument(span)).await;
    let mut response = match outcome {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(id = %request_id, %method, %path, "request timed out");
            // Each dialect's clients parse their own envelope, even for this answer.
            if path.starts_with("/profile/") {
                ProfileError::new(StatusCode::SERVICE_UNAVAILABLE, messages::UNAVAILABLE).retry_after(1).into_response()
            } else {
                ApiError::new(ErrorCode::DatabaseUnavailable)
                    .with_message("The request took too long; retry it.")
                    .retry_after(1)
                    .into_response()
            }
        }
    };

    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::warn!(id = %request_id, %method, %path, status, micros, "request failed");
    } else {
        tracing::debug!(id = %request_id, %method, %path, status, micros, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
