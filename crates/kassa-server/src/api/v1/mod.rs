//! The BuyShazam Developer API (`/api/v1/...`), as the seed documents it.

pub(crate) mod actions;
pub(crate) mod balance;
pub(crate) mod orders;
pub(crate) mod services;
pub(crate) mod webhooks;

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use kassa_core::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The `{id}` of a request path. Taken as a `Result` so that an id axum cannot decode (`%FF` is
/// not text) does not answer a plain-text 400 before the request is authenticated: such an id
/// names nothing, and the handler answers so in the JSON envelope, after the signature check.
pub(crate) type PathId = Result<Path<String>, PathRejection>;

/// The id's text; empty when it could not be decoded (and so matches no id).
pub(crate) fn id_text(id: PathId) -> String {
    id.map(|Path(id)| id).unwrap_or_default()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/balance", only(get(balance::balance), "GET, HEAD"))
        .route("/api/v1/services", only(get(services::services), "GET, HEAD"))
        .route("/api/v1/orders", only(get(orders::list).post(orders::create), "GET, HEAD, POST"))
        .route("/api/v1/orders/{id}", only(get(orders::get), "GET, HEAD"))
        .route("/api/v1/orders/{id}/cancel", only(post(actions::cancel), "POST"))
        .route("/api/v1/orders/{id}/refill", only(post(actions::refill), "POST"))
        .route("/api/v1/webhooks", only(get(webhooks::list).post(webhooks::create), "GET, HEAD, POST"))
        .route("/api/v1/webhooks/{id}", only(delete(webhooks::remove), "DELETE"))
}

/// `route`, with every other method answered 405 `method_not_allowed` and the `Allow` header
/// HTTP asks of a 405 (axum answers HEAD with the GET handler).
fn only(route: MethodRouter<AppState>, allowed: &'static str) -> MethodRouter<AppState> {
    route.fallback(move || async move { method_not_allowed(allowed) })
}

fn method_not_allowed(allowed: &'static str) -> Response {
    ([(header::ALLOW, allowed)], ApiError::new(ErrorCode::MethodNotAllowed)).into_response()
}
