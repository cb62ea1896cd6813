//! Column lists and row mappers, one per record, so every query reads a record the same way.

use std::str::FromStr;

use kassa_core::{CustomerId, Minor, OrderId, OrderStatus, Price};
use rusqlite::types::Type;
use rusqlite::Row;

use crate::model::*;

/// A parse failure of a stored value, reported like a column type error.
fn bad(index: usize, what: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, what.to_string().into())
}

fn parse<T: FromStr>(row: &Row, index: usize) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.get(index)?;
    text.parse().map_err(|e| bad(index, e))
}

fn u64_col(row: &Row, index: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(index)?;
    u64::try_from(v).map_err(|e| bad(index, e))
}

fn opt_u64_col(row: &Row, index: usize) -> rusqlite::Result<Option<u64>> {
    let v: Option<i64> = row.get(index)?;
    v.map(|v| u64::try_from(v).map_err(|e| bad(index, e))).transpose()
}

pub const CUSTOMER_COLUMNS: &str = "id, user_id, email, first_name, last_name, username, phone, language, country, \
     city, address, bio, verified, moderator, chat_status, status, created_at";

pub fn customer(row: &Row) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: CustomerId(row.get(0)?),
        user_id: row.get(1)?,
        email: row.get(2)?,
        first_name: row.get(3)?,
        last_name: row.get(4)?,
        username: row.get(5)?,
        phone: row.get(6)?,
        language: row.get(7)?,
        country: row.get(8)?,
        city: row.get(9)?,
        address: row.get(10)?,
        bio: row.get(11)?,
        verified: row.get::<_, i64>(12)? == 1,
        moderator: row.get(13)?,
        chat_status: row.get(14)?,
        status: parse(row, 15)?,
        created_at: row.get(16)?,
    })
}

pub const LEDGER_COLUMNS: &str = "id, customer_id, kind, amount, balance_after, reference, order_id, note, created_at";

pub fn ledger_entry(row: &Row) -> rusqlite::Result<LedgerEntry> {
    Ok(LedgerEntry {
        id: row.get(0)?,
        customer_id: CustomerId(row.get(1)?),
        kind: parse(row, 2)?,
        amount: Minor(row.get(3)?),
        balance_after: Minor(row.get(4)?),
        reference: row.get(5)?,
        order_id: row.get(6)?,
        note: row.get(7)?,
        created_at: row.get(8)?,
    })
}

pub const KEY_COLUMNS: &str =
    "k.id, k.api_key, k.customer_id, k.status, k.allowed_ips, k.allowed_services, k.rate_limit_per_minute, k.created_at";

/// Splits a comma-separated list column.
fn list<T: FromStr>(row: &Row, index: usize) -> rusqlite::Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.get(index)?;
    text.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().map_err(|e| bad(index, e))).collect()
}

pub fn api_key(row: &Row) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.get(0)?,
        api_key: row.get(1)?,
        customer_id: CustomerId(row.get(2)?),
        status: parse(row, 3)?,
        allowed_ips: list(row, 4)?,
        allowed_services: list(row, 5)?,
        rate_limit_per_minute: row.get(6)?,
        created_at: row.get(7)?,
    })
}

/// Service columns; queries read `FROM services s LEFT JOIN providers p ON p.id = s.provider_id`.
pub const SERVICE_COLUMNS: &str =
    "s.id, s.name, s.category, s.kind, s.price_per_1000, s.min_quantity, s.max_quantity, \
     s.active, s.provider_id, s.provider_service, p.kind AS provider_kind, s.cancel_allowed, s.refill_allowed, \
     s.created_at, s.updated_at";
pub const SERVICE_FROM: &str = "services s LEFT JOIN providers p ON p.id = s.provider_id";

/// Reads the columns by position, in the order of [`SERVICE_COLUMNS`] (every order reads its
/// service on the writer thread).
pub fn service(row: &Row) -> rusqlite::Result<ServiceRecord> {
    Ok(ServiceRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        category: row.get(2)?,
        kind: parse(row, 3)?,
        price_per_1000: parse::<Price>(row, 4)?,
        min: u64_col(row, 5)?,
        max: u64_col(row, 6)?,
        active: row.get::<_, i64>(7)? == 1,
        provider_id: row.get(8)?,
        provider_service: row.get(9)?,
        provider_kind: row
            .get::<_, Option<String>>(10)?
            .map(|k| k.parse())
            .transpose()
            .map_err(|e: String| bad(10, e))?,
        cancel_allowed: row.get::<_, i64>(11)? == 1,
        refill_allowed: row.get::<_, i64>(12)? == 1,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
    })
}

/// Order columns, in the positions [`order`] reads.
pub const ORDER_COLUMNS: &str = "seq, id, customer_id, service_id, service_name, quantity, link, custom_comments, \
     client_order_ref, idempotency_key, price_per_1000, charge, refunded, status, smm_status, remains, start_count, \
     created_at, updated_at, provider_id, provider_service, provider_order_id, upstream, attempts, next_attempt_at, \
     last_error";

/// Reads the columns by position, in the order of [`ORDER_COLUMNS`] (every query selects them
/// first): a list reads 50 rows of 26 columns, and looking each up by name was a quarter of it.
pub fn order(row: &Row) -> rusqlite::Result<OrderRecord> {
    Ok(OrderRecord {
        seq: row.get(0)?,
        id: parse::<OrderId>(row, 1)?,
        customer_id: CustomerId(row.get(2)?),
        service_id: row.get(3)?,
        service_name: row.get(4)?,
        quantity: u64_col(row, 5)?,
        link: row.get(6)?,
        custom_comments: row.get(7)?,
        client_order_ref: row.get(8)?,
        idempotency_key: row.get(9)?,
        price_per_1000: parse::<Price>(row, 10)?,
        charge: Minor(row.get(11)?),
        refunded: Minor(row.get(12)?),
        status: parse::<OrderStatus>(row, 13)?,
        smm_status: row.get(14)?,
        remains: opt_u64_col(row, 15)?,
        start_count: opt_u64_col(row, 16)?,
        created_at: row.get(17)?,
        updated_at: row.get(18)?,
        provider_id: row.get(19)?,
        provider_service: row.get(20)?,
        provider_order_id: row.get(21)?,
        upstream: parse(row, 22)?,
        attempts: row.get(23)?,
        next_attempt_at: row.get(24)?,
        last_error: row.get(25)?,
    })
}

pub const PROVIDER_COLUMNS: &str = "id, name, kind, url, key_sealed, created_at";

pub fn provider(row: &Row) -> rusqlite::Result<ProviderRecord> {
    Ok(ProviderRecord {
        id: row.get("id")?,
        name: row.get("name")?,
        kind: parse(row, row.as_ref().column_index("kind")?)?,
        url: row.get("url")?,
        key_sealed: row.get("key_sealed")?,
        created_at: row.get("created_at")?,
    })
}

pub const WEBHOOK_COLUMNS: &str = "id, customer_id, url, secret_sealed, active, created_at";

pub fn webhook(row: &Row) -> rusqlite::Result<WebhookRecord> {
    Ok(WebhookRecord {
        id: row.get("id")?,
        customer_id: CustomerId(row.get("customer_id")?),
        url: row.get("url")?,
        secret_sealed: row.get("secret_sealed")?,
        active: row.get::<_, i64>("active")? == 1,
        created_at: row.get("created_at")?,
    })
}

pub const DELIVERY_COLUMNS: &str = "id, endpoint_id, message_id, event_type, payload, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at";

pub fn delivery(row: &Row) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: row.get("id")?,
        endpoint_id: row.get("endpoint_id")?,
        message_id: row.get("message_id")?,
        event_type: row.get("event_type")?,
        payload: row.get("payload")?,
        state: parse(row, row.as_ref().column_index("state")?)?,
        attempts: row.get("attempts")?,
        next_attempt_at: row.get("next_attempt_at")?,
        last_status: row.get("last_status")?,
        last_error: row.get("last_error")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// The documents' slot, type and size ride along as one `slot:type:size,...` column, so a
/// verification (or a page of them) is one statement and never reads the blobs.
pub const VERIFICATION_COLUMNS: &str = "v.id, v.reference, v.customer_id, v.status, v.verify_type, v.first_name, \
     v.gender, v.id_number_sealed, v.submitted_at, v.reviewed_at, v.reviewed_by, v.review_reason, \
     (SELECT group_concat(d.slot || ':' || d.content_type || ':' || d.size, ',') \
      FROM verification_documents d WHERE d.verification_id = v.id)";

fn document_infos(row: &Row, index: usize) -> rusqlite::Result<Vec<DocumentInfo>> {
    let text: Option<String> = row.get(index)?;
    crate::rules::parse_document_list(text.as_deref().unwrap_or_default()).map_err(|e| bad(index, e))
}

pub fn verification(row: &Row) -> rusqlite::Result<VerificationRecord> {
    let gender: i64 = row.get(6)?;
    Ok(VerificationRecord {
        id: row.get(0)?,
        reference: row.get(1)?,
        customer_id: CustomerId(row.get(2)?),
        status: parse(row, 3)?,
        verify_type: parse(row, 4)?,
        first_name: row.get(5)?,
        gender: Gender::from_code(gender).ok_or_else(|| bad(6, format!("bad gender {gender}")))?,
        id_number_sealed: row.get(7)?,
        submitted_at: row.get(8)?,
        reviewed_at: row.get(9)?,
        reviewed_by: row.get(10)?,
        review_reason: row.get(11)?,
        documents: document_infos(row, 12)?,
    })
}

pub const AUDIT_COLUMNS: &str =
    "id, verification_id, customer_id, action, from_status, to_status, actor, reason, created_at";

pub fn audit_entry(row: &Row) -> rusqlite::Result<AuditEntry> {
    let from_status: Option<String> = row.get(4)?;
    Ok(AuditEntry {
        id: row.get(0)?,
        verification_id: row.get(1)?,
        customer_id: CustomerId(row.get(2)?),
        action: parse(row, 3)?,
        from_status: from_status.map(|s| s.parse().map_err(|e| bad(4, e))).transpose()?,
        to_status: parse(row, 5)?,
        actor: row.get(6)?,
        reason: row.get(7)?,
        created_at: row.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(columns: &str) -> Vec<&str> {
        columns.split(',').map(|c| c.trim()).map(|c| c.rsplit(' ').next().unwrap_or(c)).collect()
    }

    /// `order` and `service` read by position: the column lists must stay in these orders.
    #[test]
    fn positional_readers_match_their_column_lists() {
        assert_eq!(
            names(ORDER_COLUMNS),
            [
                "seq",
                "id",
                "customer_id",
                "service_id",
                "service_name",
                "quantity",
                "link",
                "custom_comments",
                "client_order_ref",
                "idempotency_key",
                "price_per_1000",
                "charge",
                "refunded",
                "status",
                "smm_status",
                "remains",
                "start_count",
                "created_at",
                "updated_at",
                "provider_id",
                "provider_service",
                "provider_order_id",
                "upstream",
                "attempts",
                "next_attempt_at",
                "last_error",
            ]
        );
        assert_eq!(
            names(SERVICE_COLUMNS),
            [
                "s.id",
                "s.name",
                "s.category",
                "s.kind",
                "s.price_per_1000",
                "s.min_quantity",
                "s.max_quantity",
                "s.active",
                "s.provider_id",
                "s.provider_service",
                "provider_kind",
                "s.cancel_allowed",
                "s.refill_allowed",
                "s.created_at",
                "s.updated_at",
            ]
        );
    }
}
