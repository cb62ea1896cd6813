//! Webhook endpoints and the delivery outbox, on SQLite.

use kassa_core::{Currency, CustomerId, OrderStatus};
use rusqlite::{params, Connection, OptionalExtension};

use super::map_err;
use super::rows::{self, DELIVERY_COLUMNS, WEBHOOK_COLUMNS};
use crate::model::*;
use crate::rules;
use crate::{StoreError, StoreResult};

pub fn create_webhook(conn: &Connection, new: &NewWebhook, now: Millis) -> StoreResult<WebhookRecord> {
    let count: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM webhook_endpoints WHERE customer_id = ?1 AND active = 1",
            [new.customer_id.0],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    rules::check_webhook_count(count as usize)?;
    conn.execute(
        "INSERT INTO webhook_endpoints (customer_id, url, secret_sealed, active, created_at) VALUES (?1, ?2, ?3, 1, ?4)",
        params![new.customer_id.0, new.url, new.secret_sealed, now],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::NotFound(format!("customer {}", new.customer_id))
        }
        other => map_err(other),
    })?;
    let id = conn.last_insert_rowid();
    conn.query_row(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhook_endpoints WHERE id = ?1"), [id], rows::webhook)
        .map_err(map_err)
}

pub fn webhooks(conn: &Connection, customer: Option<CustomerId>) -> StoreResult<Vec<WebhookRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhook_endpoints WHERE active = 1 AND (?1 IS NULL OR customer_id = ?1) ORDER BY id"
        ))
        .map_err(map_err)?;
    let rows = stmt.query_map([customer.map(|c| c.0)], rows::webhook).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// Deactivates an endpoint (its delivery log stays) and fails what was still to be sent to it.
pub fn delete_webhook(conn: &Connection, customer: Option<CustomerId>, id: i64, now: Millis) -> StoreResult<()> {
    let changed = conn
        .execute(
            "UPDATE webhook_endpoints SET active = 0 WHERE id = ?1 AND active = 1 AND (?2 IS NULL OR customer_id = ?2)",
            params![id, customer.map(|c| c.0)],
        )
        .map_err(map_err)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("webhook {id}")));
    }
    conn.execute(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = 'endpoint removed', updated_at = ?2
         WHERE endpoint_id = ?1 AND state = 'pending'",
        params![id, now],
    )
    .map_err(map_err)?;
    Ok(())
}

/// Writes one delivery per active endpoint of the order's customer, in the caller's transaction.
pub fn enqueue_status_event(
    conn: &Connection,
    currency: &Currency,
    order: &OrderRecord,
    previous: OrderStatus,
    now: Millis,
) -> StoreResult<()> {
    let mut endpoints = conn
        .prepare_cached("SELECT id FROM webhook_endpoints WHERE customer_id = ?1 AND active = 1")
        .map_err(map_err)?;
    let ids: Vec<i64> = endpoints
        .query_map([order.customer_id.0], |r| r.get(0))
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    if ids.is_empty() {
        return Ok(());
    }
    let payload = crate::present::status_event(currency, order, previous, now);
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload, state, next_attempt_at,
                                             created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?5)",
        )
        .map_err(map_err)?;
    for endpoint in ids {
        insert
            .execute(params![endpoint, rules::message_id(), kassa_wire::webhook::ORDER_STATUS_CHANGED, payload, now])
            .map_err(map_err)?;
    }
    Ok(())
}

pub fn claim_deliveries(
    conn: &Connection,
    limit: u32,
    lease_until: Millis,
    now: Millis,
) -> StoreResult<Vec<DeliveryJob>> {
    let mut claim = conn
        .prepare_cached(&format!(
            "UPDATE webhook_deliveries SET next_attempt_at = ?2, updated_at = ?3
             WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                          WHERE d.state = 'pending' AND d.next_attempt_at <= ?3 AND e.active = 1
                          ORDER BY d.next_attempt_at LIMIT ?1)
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .map_err(map_err)?;
    let claimed: Vec<DeliveryRecord> = claim
        .query_map(params![limit, lease_until, now], rows::delivery)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    let mut endpoint = conn
        .prepare_cached("SELECT url, secret_sealed, customer_id FROM webhook_endpoints WHERE id = ?1")
        .map_err(map_err)?;
    claimed
        .into_iter()
        .map(|delivery| {
            let (url, secret_sealed, customer) = endpoint
                .query_row([delivery.endpoint_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(map_err)?;
            Ok(DeliveryJob {
                delivery,
                customer_id: CustomerId(customer),
                url,
                secret_sealed,
                claimed_until: lease_until,
            })
        })
        .collect()
}

/// Records an attempt made under the claim that leased the delivery until `claimed_until`; `None`
/// when that claim is gone (it ran out and another attempt took the delivery, or an operator
/// replayed it), so that a late attempt cannot undo a newer one.
pub fn record_delivery(
    conn: &Connection,
    id: i64,
    claimed_until: Millis,
    attempt: &DeliveryAttempt,
    now: Millis,
) -> StoreResult<Option<DeliveryRecord>> {
    let state = rules::delivery_state_after(attempt);
    conn.prepare_cached(&format!(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, state = ?2, next_attempt_at = ?3, last_status = ?4,
                                       last_error = ?5, updated_at = ?6
         WHERE id = ?1 AND state = 'pending' AND next_attempt_at = ?7 RETURNING {DELIVERY_COLUMNS}"
    ))
    .and_then(|mut s| {
        s.query_row(
            params![id, state.as_str(), attempt.retry_at, attempt.status, attempt.error, now, claimed_until],
            rows::delivery,
        )
        .optional()
    })
    .map_err(map_err)
}

/// A page of deliveries, newest first. One statement per filter shape (statements keep their first
/// plan, see `plan_once`), so that a filter on the state or the endpoint reads that index.
pub fn deliveries(conn: &Connection, filter: &DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>> {
    let state = filter.state.map(|s| s.as_str());
    let customer = filter.customer_id.map(|c| c.0);
    let mut terms = Vec::new();
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&filter.limit];
    if let Some(endpoint) = &filter.endpoint_id {
        args.push(endpoint);
        terms.push(format!("d.endpoint_id = ?{}", args.len()));
    }
    if let Some(state) = &state {
        args.push(state);
        terms.push(format!("d.state = ?{}", args.len()));
    }
    if let Some(customer) = &customer {
        args.push(customer);
        terms.push(format!("d.endpoint_id IN (SELECT id FROM webhook_endpoints WHERE customer_id = ?{})", args.len()));
    }
    let condition = if terms.is_empty() { "1".to_string() } else { terms.join(" AND ") };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE {condition} ORDER BY d.id DESC LIMIT ?1"
        ))
        .map_err(map_err)?;
    let rows = stmt.query_map(args.as_slice(), rows::delivery).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn replay_delivery(conn: &Connection, id: i64, now: Millis) -> StoreResult<DeliveryRecord> {
    conn.prepare_cached(&format!(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?2, updated_at = ?2
         WHERE id = ?1 AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE active = 1)
         RETURNING {DELIVERY_COLUMNS}"
    ))
    .and_then(|mut s| s.query_row(params![id, now], rows::delivery).optional())
    .map_err(map_err)?
    .ok_or_else(|| StoreError::NotFound(format!("delivery {id} (or its endpoint was removed)")))
}
