//! Providers and the upstream side of orders, on PostgreSQL. Claims use
//! `FOR UPDATE SKIP LOCKED`, so any number of workers on any number of nodes take disjoint work.

use deadpool_postgres::GenericClient;
use kassa_core::{Currency, CustomerId, OrderId, OrderStatus};

use super::map_err;
use super::rows::{self, ORDER_COLUMNS, PROVIDER_COLUMNS};
use super::sql::{apply_change, order_for_update, service};
use crate::model::*;
use crate::rules::{self, SubmissionFate};
use crate::{StoreError, StoreResult};

pub async fn create_provider(tx: &impl GenericClient, new: &NewProvider, now: Millis) -> StoreResult<ProviderRecord> {
    rules::check_provider(new)?;
    let inserted = tx
        .query_one(
            &format!(
                "INSERT INTO providers (name, kind, url, key_sealed, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING {PROVIDER_COLUMNS}"
            ),
            &[&new.name, &new.kind.as_str(), &new.url, &new.key_sealed, &now],
        )
        .await;
    match inserted {
        Ok(row) => rows::provider(&row),
        Err(e) if e.as_db_error().is_some_and(|d| d.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            Err(StoreError::Conflict(format!("a provider named {} already exists", new.name)))
        }
        Err(e) => Err(map_err(e)),
    }
}

pub async fn providers(c: &impl GenericClient) -> StoreResult<Vec<ProviderRecord>> {
    let rows = c.query(&format!("SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY id"), &[]).await.map_err(map_err)?;
    rows.iter().map(rows::provider).collect()
}

pub async fn claim_submissions(
    tx: &impl GenericClient,
    limit: u32,
    lease_until: Millis,
    now: Millis,
) -> StoreResult<Vec<OrderRecord>> {
    tx.execute(
        "UPDATE orders SET upstream = 'needs_review', claimed_until = NULL, updated_at = $1,
                           last_error = 'the worker sending it stopped before learning the outcome'
         WHERE upstream = 'submitting' AND claimed_until < $1",
        &[&now],
    )
    .await
    .map_err(map_err)?;
    let rows = tx
        .query(
            &format!(
                "UPDATE orders SET upstream = 'submitting', claimed_until = $2, updated_at = $3
                 WHERE seq IN (SELECT seq FROM orders WHERE upstream = 'queued' AND next_attempt_at <= $3
                                               AND provider_order_id IS NULL
                               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING {ORDER_COLUMNS}"
            ),
            &[&i64::from(limit), &lease_until, &now],
        )
        .await
        .map_err(map_err)?;
    rows.iter().map(rows::order).collect()
}

/// Records what the provider said to the submission made under the claim that leased the order
/// until `claimed_until` (see [`rules::submission_fate`]).
pub async fn record_submission(
    tx: &impl GenericClient,
    currency: &Currency,
    id: &OrderId,
    claimed_until: Millis,
    submission: &Submission,
    poll_at: Millis,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let current = order_for_update(tx, None, id).await?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    let current_claim: Option<Millis> =
        tx.query_one("SELECT claimed_until FROM orders WHERE id = $1", &[&id.as_str()]).await.map_err(map_err)?.get(0);
    match rules::submission_fate(&current, current_claim, claimed_until, submission) {
        SubmissionFate::Apply => {}
        SubmissionFate::Known => return Ok(current),
        SubmissionFate::Late => {
            let note = rules::late_note(submission);
            tx.execute(
                "UPDATE orders SET last_error = COALESCE(last_error || '; ', '') || $2,
                                   provider_order_id = COALESCE(provider_order_id, $3), updated_at = $4
                 WHERE id = $1",
                &[&id.as_str(), &note, &rules::accepted_id(submission), &now],
            )
            .await
            .map_err(map_err)?;
            return order_for_update(tx, None, id).await?.ok_or_else(|| StoreError::NotFound(format!("order {id}")));
        }
        SubmissionFate::Attach(note) => {
            let accepted = rules::accepted_id(submission).unwrap_or_default();
            return attach(tx, currency, &current, accepted, poll_at, Some(&note), now).await;
        }
        SubmissionFate::Review(reason) => {
            let review = Some((Upstream::NeedsReview, Some(reason.as_str())));
            return apply_change(tx, currency, &current, &StatusChange::default(), review, now).await;
        }
    }
    match submission {
        Submission::Accepted { provider_order_id } => {
            tx.execute(
                "UPDATE orders SET provider_order_id = $2, next_attempt_at = $3, last_error = NULL WHERE id = $1",
                &[&id.as_str(), provider_order_id, &poll_at],
            )
            .await
            .map_err(map_err)?;
            let change = StatusChange { status: Some(OrderStatus::Processing), ..Default::default() };
            apply_change(tx, currency, &current, &change, Some((Upstream::Submitted, None)), now).await
        }
        Submission::NotSent { error, retry_at } => {
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE orders SET upstream = 'queued', attempts = attempts + 1, next_attempt_at = $2,
                                           last_error = $3, claimed_until = NULL, updated_at = $4
                         WHERE id = $1 RETURNING {ORDER_COLUMNS}"
                    ),
                    &[&id.as_str(), retry_at, error, &now],
                )
                .await
                .map_err(map_err)?;
            rows::order(&row)
        }
        Submission::NeedsReview { reason } => {
            apply_change(
                tx,
                currency,
                &current,
                &StatusChange::default(),
                Some((Upstream::NeedsReview, Some(reason))),
                now,
            )
            .await
        }
        Submission::Rejected { error } => {
            let change = StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() };
            apply_change(tx, currency, &current, &change, Some((Upstream::Closed, Some(error))), now).await
        }
    }
}

pub async fn claim_polls(
    tx: &impl GenericClient,
    limit: u32,
    lease_until: Millis,
    due_by: Millis,
) -> StoreResult<Vec<OrderRecord>> {
    let rows = tx
        .query(
            &format!(
                "UPDATE orders SET next_attempt_at = $2
                 WHERE seq IN (SELECT seq FROM orders WHERE upstream = 'submitted' AND next_attempt_at <= $3
                               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING {ORDER_COLUMNS}"
            ),
            &[&i64::from(limit), &lease_until, &due_by],
        )
        .await
        .map_err(map_err)?;
    rows.iter().map(rows::order).collect()
}

pub async fn record_poll(
    tx: &impl GenericClient,
    currency: &Currency,
    id: &OrderId,
    claimed_until: Millis,
    change: &StatusChange,
    next_poll_at: Millis,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let current = order_for_update(tx, None, id).await?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    // A report made under a claim that is gone (it ran out and a newer check took over, or the
    // order left 'submitted') is older than what decides the order now: it changes nothing.
    if current.upstream != Upstream::Submitted || current.next_attempt_at != Some(claimed_until) {
        return Ok(current);
    }
    tx.execute("UPDATE orders SET next_attempt_at = $2 WHERE id = $1", &[&id.as_str(), &next_poll_at])
        .await
        .map_err(map_err)?;
    // Decide before writing: a report our state machine does not allow keeps its raw status only.
    match rules::plan_change(&current, change) {
        Err(StoreError::InvalidTransition { .. } | StoreError::Invalid(_)) if change.status.is_some() => {
            let (upstream, note) = rules::refused_report(&current, change);
            let raw_only = StatusChange { status: None, ..change.clone() };
            apply_change(tx, currency, &current, &raw_only, Some((upstream, Some(&note))), now).await
        }
        _ => apply_change(tx, currency, &current, change, None, now).await,
    }
}

pub async fn resolve_review(
    tx: &impl GenericClient,
    currency: &Currency,
    id: &OrderId,
    resolution: &Resolution,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let current = order_for_update(tx, None, id).await?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    if current.upstream != Upstream::NeedsReview {
        return Err(StoreError::Invalid(format!(
            "order {id} is not waiting for review (upstream: {})",
            current.upstream
        )));
    }
    match resolution {
        Resolution::Attach { provider_order_id } => {
            // Attaches of one provider order take turns, so the later one sees the earlier.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext('provider-order:' || $1::text || ':' || $2))",
                &[&current.provider_id.unwrap_or(0).to_string(), &provider_order_id],
            )
            .await
            .map_err(map_err)?;
            let holder = tx
                .query_opt(
                    "SELECT id FROM orders
                     WHERE provider_id IS NOT DISTINCT FROM $1 AND provider_order_id = $2 AND id <> $3 LIMIT 1",
                    &[&current.provider_id, &provider_order_id, &id.as_str()],
                )
                .await
                .map_err(map_err)?
                .map(|row| row.get::<_, String>(0));
            rules::may_attach(provider_order_id, holder.as_deref())?;
            attach(tx, currency, &current, provider_order_id, now, None, now).await
        }
        Resolution::Requeue => {
            rules::may_requeue(&current)?;
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE orders SET upstream = 'queued', attempts = 0, next_attempt_at = $2, last_error = NULL,
                                           claimed_until = NULL, updated_at = $2
                         WHERE id = $1 RETURNING {ORDER_COLUMNS}"
                    ),
                    &[&id.as_str(), &now],
                )
                .await
                .map_err(map_err)?;
            rows::order(&row)
        }
        Resolution::Dismiss => {
            rules::may_dismiss(&current)?;
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE orders SET upstream = 'closed', claimed_until = NULL, updated_at = $2
                         WHERE id = $1 RETURNING {ORDER_COLUMNS}"
                    ),
                    &[&id.as_str(), &now],
                )
                .await
                .map_err(map_err)?;
            rows::order(&row)
        }
    }
}

/// Ties an order (locked by the caller) to the provider order that holds it: submitted, first
/// status check at `poll_at`.
async fn attach(
    tx: &impl GenericClient,
    currency: &Currency,
    current: &OrderRecord,
    provider_order_id: &str,
    poll_at: Millis,
    note: Option<&str>,
    now: Millis,
) -> StoreResult<OrderRecord> {
    tx.execute(
        "UPDATE orders SET provider_order_id = $2, next_attempt_at = $3 WHERE id = $1",
        &[&current.id.as_str(), &provider_order_id, &poll_at],
    )
    .await
    .map_err(map_err)?;
    let status = (current.status == OrderStatus::Pending).then_some(OrderStatus::Processing);
    let change = StatusChange { status, ..Default::default() };
    apply_change(tx, currency, current, &change, Some((Upstream::Submitted, note)), now).await
}

pub async fn cancel_order(
    tx: &impl GenericClient,
    currency: &Currency,
    customer: Option<CustomerId>,
    id: &OrderId,
    now: Millis,
) -> StoreResult<CancelOutcome> {
    let current =
        order_for_update(tx, customer, id).await?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    let service = service(tx, current.service_id).await?;
    match rules::cancel_decision(&current, service.as_ref())? {
        rules::CancelDecision::Local => {
            let change = StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() };
            Ok(CancelOutcome::Canceled(apply_change(tx, currency, &current, &change, None, now).await?))
        }
        rules::CancelDecision::AskProvider => Ok(CancelOutcome::AskProvider(current)),
        rules::CancelDecision::AlreadyCanceled => Ok(CancelOutcome::Canceled(current)),
    }
}

const REFILL_COLUMNS: &str = "id, order_id, provider_refill_id, status, created_at";

fn refill_row(row: &tokio_postgres::Row) -> RefillRecord {
    RefillRecord {
        id: row.get(0),
        order_id: row.get(1),
        provider_refill_id: row.get(2),
        status: row.get(3),
        created_at: row.get(4),
    }
}

/// Records a refill made without an idempotency key.
pub async fn create_refill(
    tx: &impl GenericClient,
    id: &OrderId,
    provider_refill_id: Option<&str>,
    status: &str,
    now: Millis,
) -> StoreResult<RefillRecord> {
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO refills (order_id, provider_refill_id, status, created_at) VALUES ($1, $2, $3, $4)
                 RETURNING {REFILL_COLUMNS}"
            ),
            &[&id.as_str(), &provider_refill_id, &status, &now],
        )
        .await
        .map_err(map_err)?;
    Ok(refill_row(&row))
}

/// Takes the key for a refill (see `Store::reserve_refill`): a new reservation, or one whose
/// request has been gone since before `stale_before`, else what the key already holds. A
/// concurrent reservation under the key is waited for, then read: each statement of this
/// transaction reads what committed before it.
pub async fn reserve_refill(
    tx: &impl GenericClient,
    id: &OrderId,
    key: &str,
    stale_before: Millis,
    now: Millis,
) -> StoreResult<RefillReservation> {
    let taken = tx
        .query_opt(
            &format!(
                "INSERT INTO refills (order_id, status, created_at, idempotency_key) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (order_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO UPDATE
                     SET created_at = excluded.created_at
                     WHERE refills.status = $2 AND refills.created_at < $5
                 RETURNING {REFILL_COLUMNS}"
            ),
            &[&id.as_str(), &REFILL_REQUESTING, &now, &key, &stale_before],
        )
        .await
        .map_err(map_err)?;
    if let Some(row) = taken {
        return Ok(RefillReservation::Reserved(refill_row(&row)));
    }
    let held = tx
        .query_one(
            &format!("SELECT {REFILL_COLUMNS} FROM refills WHERE order_id = $1 AND idempotency_key = $2"),
            &[&id.as_str(), &key],
        )
        .await
        .map_err(map_err)?;
    let held = refill_row(&held);
    Ok(if held.status == REFILL_REQUESTING { RefillReservation::Busy } else { RefillReservation::Earlier(held) })
}

pub async fn settle_refill(
    tx: &impl GenericClient,
    hold: RefillHold,
    provider_refill_id: Option<&str>,
    status: &str,
) -> StoreResult<RefillRecord> {
    let row = tx
        .query_opt(
            &format!(
                "UPDATE refills SET provider_refill_id = $3, status = $4
                 WHERE id = $1 AND created_at = $2 AND status = $5 RETURNING {REFILL_COLUMNS}"
            ),
            &[&hold.refill, &hold.taken_at, &provider_refill_id, &status, &REFILL_REQUESTING],
        )
        .await
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound(format!("refill {} is not held by this request", hold.refill)))?;
    Ok(refill_row(&row))
}

/// One refill, locked for the rest of the transaction.
async fn refill_for_update(c: &impl GenericClient, refill: i64) -> StoreResult<RefillRecord> {
    let row = c
        .query_opt(&format!("SELECT {REFILL_COLUMNS} FROM refills WHERE id = $1 FOR UPDATE"), &[&refill])
        .await
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound(format!("refill {refill}")))?;
    Ok(refill_row(&row))
}

pub async fn refills(c: &impl GenericClient, filter: &RefillFilter) -> StoreResult<Vec<RefillRecord>> {
    let rows = c
        .query(
            &format!(
                "SELECT {REFILL_COLUMNS} FROM refills
                 WHERE ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR order_id = $3)
                 ORDER BY id DESC LIMIT $1"
            ),
            &[&i64::from(filter.limit), &filter.status, &filter.order_id],
        )
        .await
        .map_err(map_err)?;
    Ok(rows.iter().map(refill_row).collect())
}

pub async fn close_refill(tx: &impl GenericClient, refill: i64, status: &str) -> StoreResult<RefillRecord> {
    let current = refill_for_update(tx, refill).await?;
    rules::may_close_refill(&current, status)?;
    let row = tx
        .query_one(
            &format!("UPDATE refills SET status = $2 WHERE id = $1 RETURNING {REFILL_COLUMNS}"),
            &[&refill, &status],
        )
        .await
        .map_err(map_err)?;
    Ok(refill_row(&row))
}

pub async fn release_refill(tx: &impl GenericClient, hold: RefillHold) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM refills WHERE id = $1 AND created_at = $2 AND status = $3",
        &[&hold.refill, &hold.taken_at, &REFILL_REQUESTING],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}
