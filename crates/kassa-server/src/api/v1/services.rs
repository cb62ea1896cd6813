use axum::extract::State;
use axum::Json;
use kassa_core::ErrorCode;
use kassa_wire::v1::ServicesResponse;

use crate::auth::v1::Signed;
use crate::error::ApiError;
use crate::state::AppState;
use kassa_store::present;

/// `GET /api/v1/services`: the active services this key may order.
#[utoipa::path(
    get,
    path = "/api/v1/services",
    tag = "BuyShazam",
    operation_id = "services",
    summary = "Service catalogue",
    description = "The active services this API key may order. Use `id` as `service_id` when creating an order; \
        `price_per_1000` is the selling price per 1,000 units.",
    responses((status = 200, description = "The services", body = ServicesResponse)),
)]
pub async fn services(State(state): State<AppState>, signed: Signed) -> Result<Json<ServicesResponse>, ApiError> {
    let all = state.store.services(true).await.map_err(|e| ApiError::from_store(e, ErrorCode::InternalError))?;
    let allowed = &signed.key.allowed_services;
    let currency = state.store.currency();
    let services = all
        .iter()
        .filter(|s| allowed.is_empty() || allowed.contains(&s.id))
        .map(|s| present::service(currency, s))
        .collect();
    Ok(Json(ServicesResponse { success: true, services }))
}
