use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kassa_core::catalog::OrderRefusal;
use kassa_core::validation::{idempotency_key, OrderRequest, PageRequest};
use kassa_core::{ErrorCode, OrderId};
use kassa_store::{NewOrder, OrderFilter, OrderPlaced, StoreError};
use kassa_wire::v1::{CreateOrderRequest, CreateOrderResponse, OrderListResponse, OrderResponse};
use serde::Deserialize;

use super::{id_text, PathId};
use crate::api::is_json;
use crate::auth::v1::Signed;
use crate::error::ApiError;
use crate::state::AppState;
use kassa_store::present;

/// `POST /api/v1/orders`
#[utoipa::path(
    post,
    path = "/api/v1/orders",
    tag = "BuyShazam",
    operation_id = "create_order",
    summary = "Create a wallet-paid order",
    description = "Charges `price_per_1000 * quantity / 1000`, rounded up to the wallet currency's minor unit, \
        and creates the order in one transaction. The same `X-Idempotency-Key` with the same body replays the \
        original answer (with `Idempotent-Replayed: true`); with a different body it is `duplicate_order`; \
        while the first request is still running it is `customer_wallet_locked` (retry after `Retry-After`).",
    params(
        ("X-Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters, unique per order; \
            send the same key when retrying the same order.", example = "order-10001"),
    ),
    request_body(content = CreateOrderRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The order was created (or, with `Idempotent-Replayed: true`, created earlier by this key)",
            body = CreateOrderResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answer replays an earlier request with the same idempotency key"))),
    ),
)]
pub async fn create(State(state): State<AppState>, headers: HeaderMap, signed: Signed) -> Result<Response, ApiError> {
    let key = idempotency_key(headers.get("x-idempotency-key").map(|v| v.as_bytes()))?;
    if !is_json(&headers) {
        return Err(ApiError::new(ErrorCode::InvalidContentType));
    }
    let customer = signed.key.customer_id;
    let currency = state.store.currency();
    let request = match parse_order(&signed.body) {
        Ok(request) => request,
        // A key that placed an order, sent again with another body, is `duplicate_order`, also
        // when that body is no valid order at all.
        Err(invalid) => {
            let placed = state.store.order_by_idempotency_key(customer, &key).await;
            return Err(match placed {
                Ok(Some(_)) => ApiError::refused(OrderRefusal::IdempotencyKeyReused, currency),
                _ => invalid,
            });
        }
    };

    let signature_claim = match state.config.order_replay_guard {
        true => state
            .spent_signatures
            .claim(customer, signed.signature, &key)
            .map_err(|_| ApiError::refused(OrderRefusal::SignatureReused, currency))?,
        false => None,
    };
    let Some(_in_flight) = state.inflight.enter(customer, &key) else {
        return Err(ApiError::new(ErrorCode::CustomerWalletLocked).retry_after(1));
    };
    let placed = state
        .store
        .create_order(NewOrder {
            customer_id: customer,
            idempotency_key: key,
            request,
            allowed_services: signed.key.allowed_services,
            signature: state.config.order_replay_guard.then(|| signed.signature.to_vec()),
        })
        .await;
    match placed {
        Ok(placed) => {
            let replayed = matches!(placed, OrderPlaced::Replayed(_));
            if let (false, Some(claim)) = (replayed, signature_claim) {
                claim.placed();
            }
            let body = CreateOrderResponse { success: true, order: present::created_order(currency, placed.order()) };
            let mut response = (StatusCode::CREATED, Json(body)).into_response();
            if replayed {
                response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            Ok(response)
        }
        Err(StoreError::Refused(refusal)) => Err(ApiError::refused(refusal, currency)),
        Err(other) => Err(ApiError::from_store(other, ErrorCode::OrderCreateFailed)),
    }
}

fn parse_order(body: &[u8]) -> Result<OrderRequest, ApiError> {
    let body: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson).with_detail("body", e.to_string()))?;
    Ok(OrderRequest::from_json(&body)?)
}

/// `GET /api/v1/orders/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "BuyShazam",
    operation_id = "order",
    summary = "One order",
    params(("id" = String, Path, description = "The API order id", example = "BSAPI-ABC123DEF456")),
    responses((status = 200, description = "The order", body = OrderResponse)),
)]
pub async fn get(State(state): State<AppState>, id: PathId, signed: Signed) -> Result<Json<OrderResponse>, ApiError> {
    let not_found = || ApiError::new(ErrorCode::OrderNotFound);
    let id: OrderId = id_text(id).parse().map_err(|_| not_found())?;
    let order = state
        .store
        .order(Some(signed.key.customer_id), &id)
        .await
        .map_err(|e| ApiError::from_store(e, ErrorCode::InternalError))?
        .ok_or_else(not_found)?;
    Ok(Json(OrderResponse { success: true, order: present::order(state.store.currency(), &order) }))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    page: Option<String>,
    limit: Option<String>,
    status: Option<String>,
}

/// `GET /api/v1/orders?page=&limit=&status=`, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "BuyShazam",
    operation_id = "orders",
    summary = "Recent orders",
    description = "The API orders of this customer, newest first, a page at a time.",
    params(
        ("page" = Option<u32>, Query, description = "Page number, from 1 (default 1)", minimum = 1, example = 1),
        ("limit" = Option<u32>, Query, description = "Orders per page, 1 to 100 (default 50)", minimum = 1, maximum = 100, example = 50),
        ("status" = Option<String>, Query, description = "Only orders with this status"),
    ),
    responses((status = 200, description = "One page of orders", body = OrderListResponse)),
)]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    signed: Signed,
) -> Result<Json<OrderListResponse>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::new(ErrorCode::InvalidPagination).with_detail("query", e.body_text()))?;
    let page = PageRequest::parse(query.page.as_deref(), query.limit.as_deref(), query.status.as_deref())?;
    let result = state
        .store
        .list_orders(OrderFilter::for_customer(signed.key.customer_id, page))
        .await
        .map_err(|e| ApiError::from_store(e, ErrorCode::InternalError))?;
    let currency = state.store.currency();
    Ok(Json(OrderListResponse {
        success: true,
        orders: result.orders.iter().map(|o| present::order(currency, o)).collect(),
        page: page.page,
        limit: page.limit,
        total: result.total,
    }))
}
