//! Webhook endpoints and the delivery outbox, on PostgreSQL.

use deadpool_postgres::GenericClient;
use kassa_core::{Currency, CustomerId, OrderStatus};

use super::map_err;
use super::rows::{self, DELIVERY_COLUMNS, WEBHOOK_COLUMNS};
use crate::model::*;
use crate::rules;
use crate::{StoreError, StoreResult};

pub async fn create_webhook(tx: &impl GenericClient, new: &NewWebhook, now: Millis) -> StoreResult<WebhookRecord> {
    // Lock the customer row so two concurrent registrations cannot both pass the count.
    let exists = tx
        .query_opt("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", &[&new.customer_id.0])
        .await
        .map_err(map_err)?;
    exists.ok_or_else(|| StoreError::NotFound(format!("customer {}", new.customer_id)))?;
    let count: i64 = tx
        .query_one("SELECT COUNT(*) FROM webhook_endpoints WHERE customer_id = $1 AND active", &[&new.customer_id.0])
        .await
        .map_err(map_err)?
        .get(0);
    rules::check_webhook_count(count as usize)?;
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO webhook_endpoints (customer_id, url, secret_sealed, active, created_at)
                 VALUES ($1, $2, $3, TRUE, $4) RETURNING {WEBHOOK_COLUMNS}"
            ),
            &[&new.customer_id.0, &new.url, &new.secret_sealed, &now],
        )
        .await
        .map_err(map_err)?;
    rows::webhook(&row)
}

pub async fn webhooks(c: &impl GenericClient, customer: Option<CustomerId>) -> StoreResult<Vec<WebhookRecord>> {
    let rows = c
        .query(
            &format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhook_endpoints WHERE active AND ($1::BIGINT IS NULL OR customer_id = $1) ORDER BY id"
            ),
            &[&customer.map(|c| c.0)],
        )
        .await
        .map_err(map_err)?;
    rows.iter().map(rows::webhook).collect()
}

pub async fn delete_webhook(
    tx: &impl GenericClient,
    customer: Option<CustomerId>,
    id: i64,
    now: Millis,
) -> StoreResult<()> {
    let changed = tx
        .execute(
            "UPDATE webhook_endpoints SET active = FALSE WHERE id = $1 AND active AND ($2::BIGINT IS NULL OR customer_id = $2)",
            &[&id, &customer.map(|c| c.0)],
        )
        .await
        .map_err(map_err)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("webhook {id}")));
    }
    tx.execute(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = 'endpoint removed', updated_at = $2
         WHERE endpoint_id = $1 AND state = 'pending'",
        &[&id, &now],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn enqueue_status_event(
    tx: &impl GenericClient,
    currency: &Currency,
    order: &OrderRecord,
    previous: OrderStatus,
    now: Millis,
) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached("SELECT id FROM webhook_endpoints WHERE customer_id = $1 AND active")
        .await
        .map_err(map_err)?;
    let endpoints: Vec<i64> =
        tx.query(&stmt, &[&order.customer_id.0]).await.map_err(map_err)?.iter().map(|r| r.get(0)).collect();
    if endpoints.is_empty() {
        return Ok(());
    }
    let payload = crate::present::status_event(currency, order, previous, now);
    let insert = tx
        .prepare_cached(
            "INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload, state, next_attempt_at,
                                             created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5)",
        )
        .await
        .map_err(map_err)?;
    for endpoint in endpoints {
        tx.execute(
            &insert,
            &[&endpoint, &rules::message_id(), &kassa_wire::webhook::ORDER_STATUS_CHANGED, &payload, &now],
        )
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

pub async fn claim_deliveries(
    tx: &impl GenericClient,
    limit: u32,
    lease_until: Millis,
    now: Millis,
) -> StoreResult<Vec<DeliveryJob>> {
    let rows = tx
        .query(
            &format!(
                "UPDATE webhook_deliveries SET next_attempt_at = $2, updated_at = $3
                 WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                              WHERE d.state = 'pending' AND d.next_attempt_at <= $3 AND e.active
                              ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED)
                 RETURNING {DELIVERY_COLUMNS}"
            ),
            &[&i64::from(limit), &lease_until, &now],
        )
        .await
        .map_err(map_err)?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        let delivery = rows::delivery(row)?;
        let endpoint = tx
            .query_one(
                "SELECT url, secret_sealed, customer_id FROM webhook_endpoints WHERE id = $1",
                &[&delivery.endpoint_id],
            )
            .await
            .map_err(map_err)?;
        jobs.push(DeliveryJob {
            delivery,
            customer_id: CustomerId(endpoint.get(2)),
            url: endpoint.get(0),
            secret_sealed: endpoint.get(1),
            claimed_until: lease_until,
        });
    }
    Ok(jobs)
}

/// Records an attempt made under the claim that leased the delivery until `claimed_until`; `None`
/// when that claim is gone (see the SQLite store's `record_delivery`).
pub async fn record_delivery(
    tx: &impl GenericClient,
    id: i64,
    claimed_until: Millis,
    attempt: &DeliveryAttempt,
    now: Millis,
) -> StoreResult<Option<DeliveryRecord>> {
    let state = rules::delivery_state_after(attempt);
    let row = tx
        .query_opt(
            &format!(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, state = $2, next_attempt_at = $3,
                                               last_status = $4, last_error = $5, updated_at = $6
                 WHERE id = $1 AND state = 'pending' AND next_attempt_at = $7 RETURNING {DELIVERY_COLUMNS}"
            ),
            &[
                &id,
                &state.as_str(),
                &attempt.retry_at,
                &attempt.status.map(i32::from),
                &attempt.error,
                &now,
                &claimed_until,
            ],
        )
        .await
        .map_err(map_err)?;
    row.as_ref().map(rows::delivery).transpose()
}

/// A page of deliveries, newest first: `$1` the limit, then the endpoint, state and customer
/// filters that are set, in that order. One statement per filter shape, each written as
/// [`order_page_sql`](super::sql::order_page_sql) writes the order list (a one-value range repeated in
/// `ORDER BY`) so that the page can only come from the index that starts with the filtered column:
/// the few failed deliveries are read from their own entries, not found by walking every delivery
/// since. A customer's deliveries are those of their endpoints (a handful at most). Public so that
/// tests can ask PostgreSQL for the plan of exactly this statement.
pub fn delivery_page_sql(endpoint: bool, state: bool, customer: bool) -> String {
    let mut terms = Vec::new();
    let mut param = 1;
    let mut next = || {
        param += 1;
        param
    };
    let order = if endpoint {
        let n = next();
        terms.push(format!("d.endpoint_id >= ${n} AND d.endpoint_id <= ${n}"));
        if state {
            terms.push(format!("d.state = ${}", next()));
        }
        "d.endpoint_id DESC, d.id DESC"
    } else if state {
        let n = next();
        terms.push(format!("d.state >= ${n} AND d.state <= ${n}"));
        "d.state DESC, d.id DESC"
    } else {
        "d.id DESC"
    };
    if customer {
        terms.push(format!("d.endpoint_id IN (SELECT id FROM webhook_endpoints WHERE customer_id = ${})", next()));
    }
    let condition = if terms.is_empty() { "TRUE".to_string() } else { terms.join(" AND ") };
    format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE {condition} ORDER BY {order} LIMIT $1")
}

pub async fn deliveries(c: &impl GenericClient, filter: &DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>> {
    let limit = i64::from(filter.limit);
    let state = filter.state.map(|s| s.as_str());
    let customer = filter.customer_id.map(|c| c.0);
    let mut args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&limit];
    if let Some(endpoint) = &filter.endpoint_id {
        args.push(endpoint);
    }
    if let Some(state) = &state {
        args.push(state);
    }
    if let Some(customer) = &customer {
        args.push(customer);
    }
    let sql = delivery_page_sql(filter.endpoint_id.is_some(), state.is_some(), customer.is_some());
    let stmt = c.prepare_cached(&sql).await.map_err(map_err)?;
    let rows = c.query(&stmt, &args).await.map_err(map_err)?;
    rows.iter().map(rows::delivery).collect()
}

pub async fn replay_delivery(tx: &impl GenericClient, id: i64, now: Millis) -> StoreResult<DeliveryRecord> {
    let row = tx
        .query_opt(
            &format!(
                "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2
                 WHERE id = $1 AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE active)
                 RETURNING {DELIVERY_COLUMNS}"
            ),
            &[&id, &now],
        )
        .await
        .map_err(map_err)?;
    row.as_ref()
        .map(rows::delivery)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("delivery {id} (or its endpoint was removed)")))
}
