//! The BuyShazam Developer API (`/api/v1/...`), as the seed documents it.

mod balance;
mod orders;
mod services;

use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/balance", get(balance::balance))
        .route("/api/v1/services", get(services::services))
        .route("/api/v1/orders", get(orders::list).post(orders::create))
        .route("/api/v1/orders/{id}", get(orders::get))
}
