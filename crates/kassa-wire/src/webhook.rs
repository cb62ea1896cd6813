//! Webhook registration bodies and the events kassa sends.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::v1::Order;

/// `POST /api/v1/webhooks`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateWebhookRequest {
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub active: bool,
    pub created_at: String,
    /// The signing secret (`whsec_...`): only in the answer to the creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookResponse {
    pub success: bool,
    pub webhook: Webhook,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WebhookListResponse {
    pub success: bool,
    pub webhooks: Vec<Webhook>,
}

/// The body of every webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// `order.status_changed`
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change happened, RFC 3339 UTC.
    pub timestamp: String,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventData {
    /// The order as it was right after the change.
    pub order: Order,
    /// The status it had before.
    pub previous_status: String,
}

pub const ORDER_STATUS_CHANGED: &str = "order.status_changed";
