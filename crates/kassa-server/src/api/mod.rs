//! The HTTP surface: one module per dialect, plus health.

pub mod health;
pub mod openapi;
pub mod profile;
pub mod v1;

use axum::http::{header, HeaderMap};

/// Whether a body was declared as JSON (`application/json`, any parameters, any case).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}
