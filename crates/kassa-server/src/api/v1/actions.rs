//! Additions to the seed's API: `POST /api/v1/orders/{id}/cancel` and `.../refill`, signed and
//! answered like every other `/api/v1` call.

use axum::extract::State;
use axum::Json;
use kassa_core::{ErrorCode, OrderId};
use kassa_store::{present, rules, CancelOutcome, OrderRecord, StoreError};
use kassa_wire::v1::{CancelResponse, Refill, RefillResponse};

use super::{id_text, PathId};
use crate::auth::v1::Signed;
use crate::error::ApiError;
use crate::fulfilment::smm_v2::{CallError, SmmV2};
use crate::state::AppState;

fn order_id(text: &str) -> Result<OrderId, ApiError> {
    text.parse().map_err(|_| ApiError::new(ErrorCode::OrderNotFound))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::new(ErrorCode::OrderNotFound),
        other => ApiError::from_store(other, ErrorCode::InternalError),
    }
}

/// The connector of the provider that holds `order`, if one does.
async fn connector(state: &AppState, order: &OrderRecord) -> Result<Option<(std::sync::Arc<SmmV2>, String)>, ApiError> {
    let (Some(provider), Some(provider_order)) = (order.provider_id, order.provider_order_id.clone()) else {
        return Ok(None);
    };
    let connector =
        state.providers.connector(provider).await.map_err(|e| ApiError::internal(ErrorCode::InternalError, e))?;
    Ok(connector.map(|c| (c, provider_order)))
}

fn provider_error(error: CallError, refused: ErrorCode) -> ApiError {
    match error {
        CallError::Refused(message) => ApiError::new(refused).with_detail("provider", message),
        other => {
            tracing::warn!(error = %other, "a provider did not answer a customer request");
            ApiError::new(ErrorCode::ProviderUnavailable).retry_after(30)
        }
    }
}

/// `POST /api/v1/orders/{id}/cancel`. An order not yet at a provider is canceled and refunded
/// at once; one at a provider is canceled there, and refunded when the provider reports it
/// canceled.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/cancel",
    tag = "kassa additions",
    operation_id = "cancel_order",
    summary = "Cancel an order",
    description = "An order not yet sent to a provider is canceled and fully refunded at once (`cancel: canceled`); \
        one at a provider is canceled there and refunded when the provider confirms (`cancel: requested`). \
        Sent without a body.",
    params(("id" = String, Path, description = "The API order id", example = "BSAPI-ABC123DEF456")),
    responses((status = 200, description = "Canceled, or cancellation requested", body = CancelResponse)),
)]
pub async fn cancel(
    State(state): State<AppState>,
    id: PathId,
    signed: Signed,
) -> Result<Json<CancelResponse>, ApiError> {
    let id = order_id(&id_text(id))?;
    let currency = state.store.currency();
    match state.store.cancel_order(Some(signed.key.customer_id), &id).await.map_err(store_error)? {
        CancelOutcome::Canceled(order) => Ok(Json(CancelResponse {
            success: true,
            cancel: "canceled".into(),
            order: present::order(currency, &order),
        })),
        CancelOutcome::AskProvider(order) => {
            let Some((connector, provider_order)) = connector(&state, &order).await? else {
                return Err(ApiError::new(ErrorCode::OrderNotCancelable));
            };
            connector.cancel(&provider_order).await.map_err(|e| provider_error(e, ErrorCode::OrderNotCancelable))?;
            Ok(Json(CancelResponse {
                success: true,
                cancel: "requested".into(),
                order: present::order(currency, &order),
            }))
        }
    }
}

/// `POST /api/v1/orders/{id}/refill`, for completed or partial orders of services that offer
/// refills: passed to the provider, or recorded for an operator when the service is manual.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/refill",
    tag = "kassa additions",
    operation_id = "refill_order",
    summary = "Ask for a refill",
    description = "For completed or partial orders of services that offer refills. Sent without a body.",
    params(("id" = String, Path, description = "The API order id", example = "BSAPI-ABC123DEF456")),
    responses((status = 200, description = "The refill request", body = RefillResponse)),
)]
pub async fn refill(
    State(state): State<AppState>,
    id: PathId,
    signed: Signed,
) -> Result<Json<RefillResponse>, ApiError> {
    let id = order_id(&id_text(id))?;
    let order = state
        .store
        .order(Some(signed.key.customer_id), &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound))?;
    let services = state.store.services(false).await.map_err(store_error)?;
    rules::check_refill(&order, services.iter().find(|s| s.id == order.service_id)).map_err(store_error)?;
    let (provider_refill, status) = match connector(&state, &order).await? {
        Some((connector, provider_order)) => {
            let refill = connector
                .refill(&provider_order)
                .await
                .map_err(|e| provider_error(e, ErrorCode::OrderNotRefillable))?;
            (Some(refill), "requested")
        }
        None => (None, "pending"),
    };
    let record = state.store.create_refill(&id, provider_refill, status).await.map_err(store_error)?;
    Ok(Json(RefillResponse {
        success: true,
        refill: Refill {
            id: record.id,
            order_id: record.order_id,
            status: record.status,
            created_at: present::rfc3339(record.created_at),
        },
    }))
}
