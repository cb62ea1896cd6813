//! The BuyShazam Developer API (`/api/v1/...`), as the seed documents it.

pub(crate) mod actions;
pub(crate) mod balance;
pub(crate) mod orders;
pub(crate) mod services;
pub(crate) mod webhooks;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

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
