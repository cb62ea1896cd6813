//! The profile and identity-verification API (`/profile/me`, `/profile/edit`,
//! `/profile/verify`), as `shared/seeds/002_...txt` documents it: Coinbase-style signing with the
//! customer's API key and secret, the seed's envelope and its messages word for word.
//!
//! Methods: only GET, POST and PUT are recognized (anything else, HEAD and OPTIONS included, is
//! the seed's "Unrecognized method"); a recognized method an endpoint does not take is a 405 that
//! names the right one.

pub(crate) mod edit;
pub mod error;
pub(crate) mod me;
pub(crate) mod verify;

use axum::http::{Method, StatusCode};
use axum::routing::{any, get, post, put, MethodRouter};
use axum::Router;
use kassa_wire::profile::messages;

use self::error::ProfileError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/profile/me", only(get(me::me), "GET", "profile/me"))
        .route("/profile/edit", only(put(edit::edit), "PUT", "profile/edit"))
        .route("/profile/verify", only(post(verify::verify), "POST", "profile/verify"))
        .route(
            "/profile/{*rest}",
            any(|| async { ProfileError::new(StatusCode::NOT_FOUND, messages::UNKNOWN_ENDPOINT) }),
        )
}

/// `route` answers its own method; every other method gets a 405 in the profile envelope.
fn only(route: MethodRouter<AppState>, allowed: &'static str, endpoint: &'static str) -> MethodRouter<AppState> {
    // axum answers HEAD with the GET handler unless HEAD has its own; the seed supports GET,
    // POST and PUT only, so HEAD is routed to the refusal explicitly.
    route.head(wrong_method(allowed, endpoint)).fallback(wrong_method(allowed, endpoint))
}

fn wrong_method(
    allowed: &'static str,
    endpoint: &'static str,
) -> impl Fn(Method) -> std::future::Ready<ProfileError> + Clone + Send + Sync + 'static {
    move |method: Method| {
        let error = if [Method::GET, Method::POST, Method::PUT].contains(&method) {
            ProfileError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("Method {method} is not supported by {endpoint}; use {allowed}."),
            )
        } else {
            ProfileError::new(StatusCode::METHOD_NOT_ALLOWED, messages::UNRECOGNIZED_METHOD)
        };
        std::future::ready(error.allow(allowed))
    }
}

/// The body as a JSON object; an empty body is an empty object (`profile/edit` then answers
/// "No user field listed", `profile/verify` names the required fields).
fn object<'a, T: serde::Deserialize<'a> + Default>(body: &'a [u8]) -> Result<T, ProfileError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|_| ProfileError::invalid_body())
}
