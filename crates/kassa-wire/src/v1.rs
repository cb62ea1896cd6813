//! Bodies of the BuyShazam dialect (`/api/v1/...`). Field names are the seed's, exactly.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::Amount;

/// The order statuses, as the wire spells them.
pub const ORDER_STATUSES: [&str; 7] =
    ["pending", "processing", "in_progress", "completed", "partial", "canceled", "refunded"];

/// The service types, as the wire spells them.
pub const SERVICE_TYPES: [&str; 3] = ["default", "custom_comments", "package"];

/// `GET /api/v1/balance`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BalanceResponse {
    pub success: bool,
    pub balance: Amount,
    pub currency: String,
    pub woo_customer_id: i64,
}

/// One entry of `GET /api/v1/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub price_per_1000: Amount,
    pub price_per_unit: Amount,
    pub currency: String,
    pub min: u64,
    pub max: u64,
    /// `default`, `custom_comments` or `package`.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::schema::service_type)]
    pub kind: String,
}

/// `GET /api/v1/services`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServicesResponse {
    pub success: bool,
    pub services: Vec<Service>,
}

/// The body of `POST /api/v1/orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateOrderRequest {
    /// An `id` from `GET /api/v1/services`.
    #[schema(example = 123)]
    pub service_id: i64,
    /// Units to order, within the service's `min` and `max`; for `custom_comments` services,
    /// the number of comment lines.
    #[schema(example = 1000)]
    pub quantity: u64,
    /// What the order is for (a post, a profile), up to 2048 characters.
    #[schema(example = "https://www.tiktok.com/@username/video/123")]
    pub link: String,
    /// Your own reference, unique per customer (1 to 128 printable characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_ref: Option<String>,
    /// One comment per line; required by `custom_comments` services, refused by the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_comments: Option<String>,
}

/// `order` in the answer to `POST /api/v1/orders`. Every field is fixed at creation, so a
/// replayed answer is the same body however the order has moved on since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedOrder {
    #[schema(example = "BSAPI-ABC123DEF456")]
    pub id: String,
    pub woo_order_number: i64,
    #[schema(schema_with = crate::schema::order_status)]
    pub status: String,
    pub charge: Amount,
    pub currency: String,
    pub service_id: i64,
    pub quantity: u64,
    pub link: String,
    #[schema(required = true)]
    pub client_order_ref: Option<String>,
}

/// `POST /api/v1/orders` (201 Created; replays carry `Idempotent-Replayed: true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateOrderResponse {
    pub success: bool,
    pub order: CreatedOrder,
}

/// An order as `GET /api/v1/orders/{id}` and the list show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    #[schema(example = "BSAPI-ABC123DEF456")]
    pub id: String,
    pub woo_order_number: i64,
    pub service_id: i64,
    pub service_name: String,
    pub quantity: u64,
    pub link: String,
    #[schema(required = true)]
    pub client_order_ref: Option<String>,
    /// One of `pending`, `processing`, `in_progress`, `completed`, `partial`, `canceled`, `refunded`.
    #[schema(schema_with = crate::schema::order_status)]
    pub status: String,
    /// The raw upstream status; `null` until a provider has reported one.
    #[schema(required = true)]
    pub smm_status: Option<String>,
    pub charge: Amount,
    /// What went back to the wallet (`0` unless partial, canceled or refunded).
    pub refunded: Amount,
    pub currency: String,
    /// Units the provider reports as not delivered, once it reports it.
    #[schema(required = true)]
    pub remains: Option<u64>,
    #[schema(required = true)]
    pub start_count: Option<u64>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /api/v1/orders/{id}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderResponse {
    pub success: bool,
    pub order: Order,
}

/// `GET /api/v1/orders?page=&limit=&status=`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderListResponse {
    pub success: bool,
    pub orders: Vec<Order>,
    pub page: u32,
    pub limit: u32,
    pub total: u64,
}

/// `GET /healthz`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    pub success: bool,
    pub status: String,
}

/// `{"success": true}`, for a request whose success says it all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ack {
    pub success: bool,
}

/// Every error of the dialect: `{"success": false, "error": code, "message": text, ...extra}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// The error code; the codes each endpoint answers are listed with its responses.
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Which field is wrong and how: `{"quantity": "must be a positive integer"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub details: Option<Map<String, Value>>,
    /// Seconds to wait before retrying (`rate_limited`, `customer_wallet_locked`); also sent as
    /// the `Retry-After` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: &str, message: &str) -> Self {
        Self {
            success: false,
            error: code.to_string(),
            message: message.to_string(),
            min: None,
            max: None,
            balance: None,
            required: None,
            currency: None,
            details: None,
            retry_after: None,
        }
    }
}

/// `POST /api/v1/orders/{id}/cancel`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancelResponse {
    pub success: bool,
    /// `canceled` (refunded now) or `requested` (the provider was asked; the refund follows its
    /// answer).
    #[schema(schema_with = crate::schema::cancel_outcome)]
    pub cancel: String,
    pub order: Order,
}

/// `POST /api/v1/orders/{id}/refill`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefillResponse {
    pub success: bool,
    pub refill: Refill,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Refill {
    pub id: i64,
    pub order_id: String,
    /// `requested` (the provider took it) or `pending` (an operator handles it: the service is
    /// manual, or the provider's answer was lost); once an operator closed it, `completed` or
    /// `rejected` (a retry under its idempotency key shows it).
    #[schema(schema_with = crate::schema::refill_status)]
    pub status: String,
    pub created_at: String,
}
