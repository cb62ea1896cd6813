//! Additions to the seed's API: `POST /api/v1/orders/{id}/cancel` and `.../refill`, signed and
//! answered like every other `/api/v1` call.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kassa_core::validation::optional_idempotency_key;
use kassa_core::{ErrorCode, OrderId};
use kassa_store::{
    present, rules, CancelOutcome, OrderRecord, RefillHold, RefillRecord, RefillReservation, StoreError,
};
use kassa_wire::v1::{CancelResponse, Refill, RefillResponse};

use super::{id_text, PathId};
use crate::auth::v1::Signed;
use crate::error::ApiError;
use crate::fulfilment::lease_for;
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
///
/// With `X-Idempotency-Key` a retry (an answer lost on the way, the SDK resending after a
/// timeout) answers the refill already asked for under that key, with `Idempotent-Replayed:
/// true`, and the provider is asked once. Without one every request is a new refill.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/refill",
    tag = "kassa additions",
    operation_id = "refill_order",
    summary = "Ask for a refill",
    description = "For completed or partial orders of services that offer refills. Sent without a body. \
        With `X-Idempotency-Key` a retry answers the refill asked for under that key instead of asking again.",
    params(
        ("id" = String, Path, description = "The API order id", example = "BSAPI-ABC123DEF456"),
        ("X-Idempotency-Key" = Option<String>, Header, description = "Makes retries of this refill request safe"),
    ),
    responses((status = 200, description = "The refill request", body = RefillResponse,
        headers(("Idempotent-Replayed" = String, description = "`true` when this answer replays an earlier request with the same idempotency key")))),
)]
pub async fn refill(
    State(state): State<AppState>,
    id: PathId,
    headers: HeaderMap,
    signed: Signed,
) -> Result<Response, ApiError> {
    let id = order_id(&id_text(id))?;
    let key = optional_idempotency_key(headers.get("x-idempotency-key").map(|v| v.as_bytes()))?;
    let order = state
        .store
        .order(Some(signed.key.customer_id), &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound))?;
    // The key is reserved in the database before the provider is asked, so one request under it
    // asks, whichever node it reaches; an earlier request's refill is the answer, even if the order
    // could no longer be refilled now.
    let hold = match &key {
        Some(key) => match state
            .store
            .reserve_refill(&id, key, lease_for(state.config.provider_timeout))
            .await
            .map_err(store_error)?
        {
            RefillReservation::Reserved(refill) => Some(refill.hold()),
            RefillReservation::Earlier(refill) => return Ok(refill_response(refill, true)),
            RefillReservation::Busy => return Err(ApiError::new(ErrorCode::CustomerWalletLocked).retry_after(1)),
        },
        None => None,
    };
    // Asking and recording run on a task of their own, which a shutdown waits for: a request that
    // times out or whose client leaves still records what the provider said, or gives its key
    // back, instead of leaving the reservation to go stale and a retry to ask again.
    let asking = state.detached.clone().spawn(async move {
        let asked = ask_for_refill(&state, &order).await;
        record_refill(&state, &id, hold, asked).await
    });
    let record = asking.await.map_err(|e| ApiError::internal(ErrorCode::InternalError, e))??;
    Ok(refill_response(record, false))
}

/// Records the refill asked for under `hold` (or without a key), or gives the key back when
/// nothing was asked for.
async fn record_refill(
    state: &AppState,
    id: &OrderId,
    hold: Option<RefillHold>,
    asked: Result<(Option<String>, &'static str), ApiError>,
) -> Result<RefillRecord, ApiError> {
    let recorded = match (asked, hold) {
        (Ok((provider_refill, status)), Some(hold)) => {
            match state.store.settle_refill(hold, provider_refill.clone(), status).await {
                // The reservation went stale and was taken over or given back meanwhile (this
                // node stalled): the provider took this refill all the same, so it is recorded.
                Err(StoreError::NotFound(_)) => state.store.create_refill(id, provider_refill, status).await,
                settled => settled,
            }
        }
        (Ok((provider_refill, status)), None) => state.store.create_refill(id, provider_refill, status).await,
        (Err(refused), hold) => {
            // Not asked for: the key is free for a retry. If giving it back fails, the
            // reservation is taken over once stale.
            if let Some(hold) = hold {
                if let Err(e) = state.store.release_refill(hold).await {
                    tracing::warn!(error = %e, refill = hold.refill, "a refused refill's reservation was not released");
                }
            }
            return Err(refused);
        }
    };
    recorded.map_err(store_error)
}

/// Checks that `order` may be refilled and asks its provider, if it has one: the provider's
/// refill id and the refill's status.
async fn ask_for_refill(state: &AppState, order: &OrderRecord) -> Result<(Option<String>, &'static str), ApiError> {
    let services = state.store.services(false).await.map_err(store_error)?;
    rules::check_refill(order, services.iter().find(|s| s.id == order.service_id)).map_err(store_error)?;
    match connector(state, order).await? {
        Some((connector, provider_order)) => {
            match connector.refill(&provider_order).await {
                Ok(refill) => Ok((Some(refill), "requested")),
                // It may have reached the provider (a timeout after sending, a 5xx, an answer
                // without a refill id): asking again could make two refills, so it is recorded
                // as pending for an operator to check with the provider, and never asked again.
                Err(CallError::Unknown(e)) => {
                    tracing::warn!(error = %e, order = %order.id.as_str(), "a refill's outcome at the provider is unknown; recorded as pending");
                    Ok((None, "pending"))
                }
                Err(e) => Err(provider_error(e, ErrorCode::OrderNotRefillable)),
            }
        }
        None => Ok((None, "pending")),
    }
}

fn refill_response(record: RefillRecord, replayed: bool) -> Response {
    let refill = Refill {
        id: record.id,
        order_id: record.order_id,
        status: record.status,
        created_at: present::rfc3339(record.created_at),
    };
    let mut response = Json(RefillResponse { success: true, refill }).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
