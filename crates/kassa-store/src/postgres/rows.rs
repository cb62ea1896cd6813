//! Column lists and row mappers of the PostgreSQL store (same records as SQLite's).

use std::str::FromStr;

use kassa_core::{CustomerId, Minor, OrderId, OrderStatus, Price};
use rust_decimal::Decimal;
use tokio_postgres::Row;

use crate::model::*;
use crate::StoreError;

fn parse<T: FromStr>(row: &Row, column: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: &str = row.get(column);
    text.parse().map_err(|e| StoreError::Internal(format!("column {column}: {e}")))
}

fn unsigned(row: &Row, column: &str) -> Result<u64, StoreError> {
    let v: i64 = row.get(column);
    u64::try_from(v).map_err(|e| StoreError::Internal(format!("column {column}: {e}")))
}

fn opt_unsigned(row: &Row, column: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = row.get(column);
    v.map(|v| u64::try_from(v).map_err(|e| StoreError::Internal(format!("column {column}: {e}")))).transpose()
}

fn price(row: &Row, column: &str) -> Result<Price, StoreError> {
    let value: Decimal = row.get(column);
    Price::new(value).map_err(|e| StoreError::Internal(format!("column {column}: {e}")))
}

fn list<T: FromStr>(row: &Row, column: &str) -> Result<Vec<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: &str = row.get(column);
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e| StoreError::Internal(format!("column {column}: {e}"))))
        .collect()
}

pub const CUSTOMER_COLUMNS: &str = "id, user_id, email, first_name, last_name, username, phone, language, country, \
     city, address, bio, verified, moderator, chat_status, status, created_at";

pub fn customer(row: &Row) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: CustomerId(row.get("id")),
        user_id: row.get("user_id"),
        email: row.get("email"),
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        username: row.get("username"),
        phone: row.get("phone"),
        language: row.get("language"),
        country: row.get("country"),
        city: row.get("city"),
        address: row.get("address"),
        bio: row.get("bio"),
        verified: row.get("verified"),
        moderator: row.get("moderator"),
        chat_status: row.get("chat_status"),
        status: parse(row, "status")?,
        created_at: row.get("created_at"),
    })
}

pub const LEDGER_COLUMNS: &str = "id, customer_id, kind, amount, balance_after, reference, order_id, note, created_at";

pub fn ledger_entry(row: &Row) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        id: row.get("id"),
        customer_id: CustomerId(row.get("customer_id")),
        kind: parse(row, "kind")?,
        amount: Minor(row.get("amount")),
        balance_after: Minor(row.get("balance_after")),
        reference: row.get("reference"),
        order_id: row.get("order_id"),
        note: row.get("note"),
        created_at: row.get("created_at"),
    })
}

pub const KEY_COLUMNS: &str = "k.id, k.api_key, k.customer_id, k.status, k.allowed_ips, k.allowed_services, \
     k.rate_limit_per_minute, k.created_at";

pub fn api_key(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.get("id"),
        api_key: row.get("api_key"),
        customer_id: CustomerId(row.get("customer_id")),
        status: parse(row, "status")?,
        allowed_ips: list(row, "allowed_ips")?,
        allowed_services: list(row, "allowed_services")?,
        rate_limit_per_minute: u32::try_from(row.get::<_, i32>("rate_limit_per_minute"))
            .map_err(|e| StoreError::Internal(format!("rate_limit_per_minute: {e}")))?,
        created_at: row.get("created_at"),
    })
}

/// Service columns; queries read `FROM services s LEFT JOIN providers p ON p.id = s.provider_id`.
pub const SERVICE_COLUMNS: &str =
    "s.id, s.name, s.category, s.kind, s.price_per_1000, s.min_quantity, s.max_quantity, \
     s.active, s.provider_id, s.provider_service, p.kind AS provider_kind, s.cancel_allowed, s.refill_allowed, \
     s.created_at, s.updated_at";
pub const SERVICE_FROM: &str = "services s LEFT JOIN providers p ON p.id = s.provider_id";

pub fn service(row: &Row) -> Result<ServiceRecord, StoreError> {
    let provider_kind: Option<&str> = row.get("provider_kind");
    Ok(ServiceRecord {
        id: row.get("id"),
        name: row.get("name"),
        category: row.get("category"),
        kind: parse(row, "kind")?,
        price_per_1000: price(row, "price_per_1000")?,
        min: unsigned(row, "min_quantity")?,
        max: unsigned(row, "max_quantity")?,
        active: row.get("active"),
        provider_id: row.get("provider_id"),
        provider_service: row.get("provider_service"),
        provider_kind: provider_kind.map(str::parse).transpose().map_err(StoreError::Internal)?,
        cancel_allowed: row.get("cancel_allowed"),
        refill_allowed: row.get("refill_allowed"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

pub const ORDER_COLUMNS: &str = "seq, id, customer_id, service_id, service_name, quantity, link, custom_comments, \
     client_order_ref, idempotency_key, price_per_1000, charge, refunded, status, smm_status, remains, start_count, \
     created_at, updated_at, provider_id, provider_service, provider_order_id, upstream, attempts, next_attempt_at, \
     last_error";

pub fn order(row: &Row) -> Result<OrderRecord, StoreError> {
    Ok(OrderRecord {
        seq: row.get("seq"),
        id: parse::<OrderId>(row, "id")?,
        customer_id: CustomerId(row.get("customer_id")),
        service_id: row.get("service_id"),
        service_name: row.get("service_name"),
        quantity: unsigned(row, "quantity")?,
        link: row.get("link"),
        custom_comments: row.get("custom_comments"),
        client_order_ref: row.get("client_order_ref"),
        idempotency_key: row.get("idempotency_key"),
        price_per_1000: price(row, "price_per_1000")?,
        charge: Minor(row.get("charge")),
        refunded: Minor(row.get("refunded")),
        status: parse::<OrderStatus>(row, "status")?,
        smm_status: row.get("smm_status"),
        remains: opt_unsigned(row, "remains")?,
        start_count: opt_unsigned(row, "start_count")?,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        provider_id: row.get("provider_id"),
        provider_service: row.get("provider_service"),
        provider_order_id: row.get("provider_order_id"),
        upstream: parse(row, "upstream")?,
        attempts: row.get::<_, i32>("attempts").max(0) as u32,
        next_attempt_at: row.get("next_attempt_at"),
        last_error: row.get("last_error"),
    })
}

pub const PROVIDER_COLUMNS: &str = "id, name, kind, url, key_sealed, created_at";

pub fn provider(row: &Row) -> Result<ProviderRecord, StoreError> {
    Ok(ProviderRecord {
        id: row.get("id"),
        name: row.get("name"),
        kind: parse(row, "kind")?,
        url: row.get("url"),
        key_sealed: row.get("key_sealed"),
        created_at: row.get("created_at"),
    })
}

pub const WEBHOOK_COLUMNS: &str = "id, customer_id, url, secret_sealed, active, created_at";

pub fn webhook(row: &Row) -> Result<WebhookRecord, StoreError> {
    Ok(WebhookRecord {
        id: row.get("id"),
        customer_id: CustomerId(row.get("customer_id")),
        url: row.get("url"),
        secret_sealed: row.get("secret_sealed"),
        active: row.get("active"),
        created_at: row.get("created_at"),
    })
}

pub const DELIVERY_COLUMNS: &str = "id, endpoint_id, message_id, event_type, payload, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at";

pub fn delivery(row: &Row) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        id: row.get("id"),
        endpoint_id: row.get("endpoint_id"),
        message_id: row.get("message_id"),
        event_type: row.get("event_type"),
        payload: row.get("payload"),
        state: parse(row, "state")?,
        attempts: row.get::<_, i32>("attempts").max(0) as u32,
        next_attempt_at: row.get("next_attempt_at"),
        last_status: row.get::<_, Option<i32>>("last_status").map(|s| s.clamp(0, u16::MAX as i32) as u16),
        last_error: row.get("last_error"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}
