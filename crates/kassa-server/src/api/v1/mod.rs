//! The BuyShazam Developer API (`/api/v1/...`), as the seed documents it.

pub(crate) mod actions;
pub(crate) mod balance;
pub(crate) mod orders;
pub(crate) mod services;
pub(crate) mod webhooks;

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::routing::{delete, get, post};
use axum::Router;

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
        .route("/api/v1/balance", get(balance::balance))
        .route("/api/v1/services", get(services::services))
        .route("/api/v1/orders", get(orders::list).post(orders::create))
        .route("/api/v1/orders/{id}", get(orders::get))
        .route("/api/v1/orders/{id}/cancel", post(actions::cancel))
        .route("/api/v1/orders/{id}/refill", post(actions::refill))
        .route("/api/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/api/v1/webhooks/{id}", delete(webhooks::remove))
}
