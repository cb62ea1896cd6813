//! `POST/GET /api/v1/webhooks` and `DELETE /api/v1/webhooks/{id}`: a customer's endpoints for
//! order status events, signed per Standard Webhooks with a secret shown once.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use kassa_core::ErrorCode;
use kassa_store::{present, NewWebhook, StoreError, WebhookRecord};
use kassa_wire::v1::Ack;
use kassa_wire::webhook::{CreateWebhookRequest, Webhook, WebhookListResponse, WebhookResponse};

use super::{id_text, PathId};
use crate::api::is_json;
use crate::auth::v1::Signed;
use crate::error::ApiError;
use crate::state::AppState;
use crate::webhooks::{check_url, secret_context};

fn view(record: &WebhookRecord, secret: Option<String>) -> Webhook {
    Webhook {
        id: record.id,
        url: record.url.clone(),
        active: record.active,
        created_at: present::rfc3339(record.created_at),
        secret,
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "kassa additions",
    operation_id = "create_webhook",
    summary = "Register a webhook",
    description = "Order status changes are sent to `url`, signed per Standard Webhooks with the `secret` of this \
        answer (shown once, keep it).",
    request_body(content = CreateWebhookRequest, content_type = "application/json"),
    responses((status = 201, description = "The webhook, with its signing secret", body = WebhookResponse)),
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
) -> Result<(StatusCode, Json<WebhookResponse>), ApiError> {
    if !is_json(&headers) {
        return Err(ApiError::new(ErrorCode::InvalidContentType));
    }
    let request: CreateWebhookRequest = serde_json::from_slice(&signed.body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson).with_detail("body", e.to_string()))?;
    let url = check_url(request.url.trim(), state.config.webhook_allow_private)
        .map_err(|problem| ApiError::new(ErrorCode::InvalidWebhookUrl).with_detail("url", problem))?;
    let customer = signed.key.customer_id;
    let secret = kassa_wire::sign::webhook::secret_from_bytes(&kassa_core::ids::random_bytes::<24>());
    let secret_sealed = state.vault.seal(secret.as_bytes(), &secret_context(customer.0, url.as_str()));
    let record = state
        .store
        .create_webhook(NewWebhook { customer_id: customer, url: url.to_string(), secret_sealed })
        .await
        .map_err(|e| match e {
            StoreError::Invalid(_) => ApiError::new(ErrorCode::TooManyWebhooks),
            other => ApiError::from_store(other, ErrorCode::InternalError),
        })?;
    Ok((StatusCode::CREATED, Json(WebhookResponse { success: true, webhook: view(&record, Some(secret)) })))
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "kassa additions",
    operation_id = "webhooks",
    summary = "Registered webhooks",
    responses((status = 200, description = "The webhooks (without secrets)", body = WebhookListResponse)),
)]
pub async fn list(State(state): State<AppState>, signed: Signed) -> Result<Json<WebhookListResponse>, ApiError> {
    let records = state
        .store
        .webhooks(Some(signed.key.customer_id))
        .await
        .map_err(|e| ApiError::from_store(e, ErrorCode::InternalError))?;
    Ok(Json(WebhookListResponse { success: true, webhooks: records.iter().map(|r| view(r, None)).collect() }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "kassa additions",
    operation_id = "delete_webhook",
    summary = "Remove a webhook",
    params(("id" = i64, Path, description = "The webhook id")),
    responses((status = 200, description = "Removed", body = Ack)),
)]
pub async fn remove(State(state): State<AppState>, id: PathId, signed: Signed) -> Result<Json<Ack>, ApiError> {
    let id: i64 = id_text(id).parse().map_err(|_| ApiError::new(ErrorCode::WebhookNotFound))?;
    state.store.delete_webhook(Some(signed.key.customer_id), id).await.map_err(|e| match e {
        StoreError::NotFound(_) => ApiError::new(ErrorCode::WebhookNotFound),
        other => ApiError::from_store(other, ErrorCode::InternalError),
    })?;
    Ok(Json(Ack { success: true }))
}
