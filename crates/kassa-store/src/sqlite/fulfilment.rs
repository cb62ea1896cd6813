//! Providers and the upstream side of orders, on SQLite. Claims are single `UPDATE … RETURNING`
//! statements in the one writer's transaction, so two workers never hold the same order.

use kassa_core::{Currency, CustomerId, OrderId, OrderStatus};
use rusqlite::{params, Connection, OptionalExtension};

use super::map_err;
use super::rows::{self, ORDER_COLUMNS, PROVIDER_COLUMNS};
use super::sql::{apply_change, order};
use crate::model::*;
use crate::rules::{self, SubmissionFate};
use crate::{StoreError, StoreResult};

pub fn create_provider(conn: &Connection, new: &NewProvider, now: Millis) -> StoreResult<ProviderRecord> {
    rules::check_provider(new)?;
    let inserted = conn.execute(
        "INSERT INTO providers (name, kind, url, key_sealed, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![new.name, new.kind.as_str(), new.url, new.key_sealed, now],
    );
    match inserted {
        Ok(_) => conn
            .query_row(
                &format!("SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = ?1"),
                [conn.last_insert_rowid()],
                rows::provider,
            )
            .map_err(map_err),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(StoreError::Conflict(format!("a provider named {} already exists", new.name)))
        }
        Err(e) => Err(map_err(e)),
    }
}

pub fn providers(conn: &Connection) -> StoreResult<Vec<ProviderRecord>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY id")).map_err(map_err)?;
    let rows = stmt.query_map([], rows::provider).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

fn collect_orders(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> StoreResult<Vec<OrderRecord>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt.query_map(args, rows::order).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// First turns submissions whose worker vanished into `needs_review` (the request may have
/// reached the provider), then claims due queued orders, marking them `submitting` under a lease.
pub fn claim_submissions(
    conn: &Connection,
    limit: u32,
    lease_until: Millis,
    now: Millis,
) -> StoreResult<Vec<OrderRecord>> {
    conn.prepare_cached(
        "UPDATE orders SET upstream = 'needs_review', claimed_until = NULL, updated_at = ?1,
                           last_error = 'the worker sending it stopped before learning the outcome'
         WHERE upstream = 'submitting' AND claimed_until < ?1",
    )
    .and_then(|mut s| s.execute([now]))
    .map_err(map_err)?;
    collect_orders(
        conn,
        &format!(
            "UPDATE orders SET upstream = 'submitting', claimed_until = ?2, updated_at = ?3
             WHERE seq IN (SELECT seq FROM orders WHERE upstream = 'queued' AND next_attempt_at <= ?3
                                           AND provider_order_id IS NULL
                           ORDER BY next_attempt_at LIMIT ?1)
             RETURNING {ORDER_COLUMNS}"
        ),
        params![limit, lease_until, now],
    )
}

/// Records what the provider said to the submission made under the claim that leased the order
/// until `claimed_until` (see [`rules::submission_fate`]).
pub fn record_submission(
    conn: &Connection,
    currency: &Currency,
    id: &OrderId,
    claimed_until: Millis,
    submission: &Submission,
    poll_at: Millis,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let current = order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    let current_claim: Option<Millis> = conn
        .query_row("SELECT claimed_until FROM orders WHERE id = ?1", [id.as_str()], |r| r.get(0))
        .map_err(map_err)?;
    match rules::submission_fate(&current, current_claim, claimed_until, submission) {
        SubmissionFate::Apply => {}
        SubmissionFate::Known => return Ok(current),
        SubmissionFate::Late => {
            // Someone else decided meanwhile (an operator, or the review a lapsed claim leads to):
            // keep what the provider said for the operator, change nothing else.
            let note = rules::late_note(submission);
            conn.execute(
                "UPDATE orders SET last_error = COALESCE(last_error || '; ', '') || ?2,
                                   provider_order_id = COALESCE(provider_order_id, ?3), updated_at = ?4
                 WHERE id = ?1",
                params![id.as_str(), note, rules::accepted_id(submission), now],
            )
            .map_err(map_err)?;
            return order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")));
        }
        SubmissionFate::Attach(note) => {
            let accepted = rules::accepted_id(submission).unwrap_or_default();
            return attach(conn, currency, &current, accepted, poll_at, Some(&note), now);
        }
        SubmissionFate::Review(reason) => {
            let review = Some((Upstream::NeedsReview, Some(reason.as_str())));
            return apply_change(conn, currency, &current, &StatusChange::default(), review, now);
        }
    }
    match submission {
        Submission::Accepted { provider_order_id } => {
            conn.execute(
                "UPDATE orders SET provider_order_id = ?2, next_attempt_at = ?3, last_error = NULL WHERE id = ?1",
                params![id.as_str(), provider_order_id, poll_at],
            )
            .map_err(map_err)?;
            let change = StatusChange { status: Some(OrderStatus::Processing), ..Default::default() };
            apply_change(conn, currency, &current, &change, Some((Upstream::Submitted, None)), now)
        }
        Submission::NotSent { error, retry_at } => {
            conn.execute(
                "UPDATE orders SET upstream = 'queued', attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3,
                                   claimed_until = NULL, updated_at = ?4
                 WHERE id = ?1",
                params![id.as_str(), retry_at, error, now],
            )
            .map_err(map_err)?;
            order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))
        }
        Submission::NeedsReview { reason } => {
            let change = StatusChange::default();
            apply_change(conn, currency, &current, &change, Some((Upstream::NeedsReview, Some(reason))), now)
        }
        Submission::Rejected { error } => {
            let change = StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() };
            apply_change(conn, currency, &current, &change, Some((Upstream::Closed, Some(error))), now)
        }
    }
}

/// Claims submitted orders due for a status check; the claim pushes their next check past the
/// lease, so a vanished worker only delays the check.
pub fn claim_polls(
    conn: &Connection,
    limit: u32,
    lease_until: Millis,
    due_by: Millis,
) -> StoreResult<Vec<OrderRecord>> {
    collect_orders(
        conn,
        &format!(
            "UPDATE orders SET next_attempt_at = ?2
             WHERE seq IN (SELECT seq FROM orders WHERE upstream = 'submitted' AND next_attempt_at <= ?3
                           ORDER BY next_attempt_at LIMIT ?1)
             RETURNING {ORDER_COLUMNS}"
        ),
        params![limit, lease_until, due_by],
    )
}

pub fn record_poll(
    conn: &Connection,
    currency: &Currency,
    id: &OrderId,
    claimed_until: Millis,
    change: &StatusChange,
    next_poll_at: Millis,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let current = order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    // A report made under a claim that is gone (it ran out and a newer check took over, or the
    // order left 'submitted') is older than what decides the order now: it changes nothing.
    if current.upstream != Upstream::Submitted || current.next_attempt_at != Some(claimed_until) {
        return Ok(current);
    }
    conn.execute("UPDATE orders SET next_attempt_at = ?2 WHERE id = ?1", params![id.as_str(), next_poll_at])
        .map_err(map_err)?;
    match apply_change(conn, currency, &current, change, None, now) {
        Err(StoreError::InvalidTransition { .. } | StoreError::Invalid(_)) if change.status.is_some() => {
            // The provider reports something our state machine does not allow (completed after
            // a refund, a partial without usable remains). Keep its raw status, change nothing
            // else, and leave a note for the operator (see `refused_report`).
            let (upstream, note) = rules::refused_report(&current, change);
            let raw_only = StatusChange { status: None, ..change.clone() };
            apply_change(conn, currency, &current, &raw_only, Some((upstream, Some(&note))), now)
        }
        other => other,
    }
}

pub fn resolve_review(
    conn: &Connection,
    currency: &Currency,
    id: &OrderId,
    resolution: &Resolution,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let current = order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    if current.upstream != Upstream::NeedsReview {
        return Err(StoreError::Invalid(format!(
            "order {id} is not waiting for review (upstream: {})",
            current.upstream
        )));
    }
    match resolution {
        Resolution::Attach { provider_order_id } => {
            let holder: Option<String> = conn
                .query_row(
                    "SELECT id FROM orders WHERE provider_id IS ?1 AND provider_order_id = ?2 AND id <> ?3 LIMIT 1",
                    params![current.provider_id, provider_order_id, id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            rules::may_attach(provider_order_id, holder.as_deref())?;
            attach(conn, currency, &current, provider_order_id, now, None, now)
        }
        Resolution::Requeue => {
            rules::may_requeue(&current)?;
            conn.execute(
                "UPDATE orders SET upstream = 'queued', attempts = 0, next_attempt_at = ?2, last_error = NULL,
                                   claimed_until = NULL, updated_at = ?2
                 WHERE id = ?1",
                params![id.as_str(), now],
            )
            .map_err(map_err)?;
            order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))
        }
        Resolution::Dismiss => {
            rules::may_dismiss(&current)?;
            conn.execute(
                "UPDATE orders SET upstream = 'closed', claimed_until = NULL, updated_at = ?2 WHERE id = ?1",
                params![id.as_str(), now],
            )
            .map_err(map_err)?;
            order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))
        }
    }
}

/// Ties an order to the provider order that holds it: submitted, first status check at `poll_at`.
fn attach(
    conn: &Connection,
    currency: &Currency,
    current: &OrderRecord,
    provider_order_id: &str,
    poll_at: Millis,
    note: Option<&str>,
    now: Millis,
) -> StoreResult<OrderRecord> {
    conn.execute(
        "UPDATE orders SET provider_order_id = ?2, next_attempt_at = ?3 WHERE id = ?1",
        params![current.id.as_str(), provider_order_id, poll_at],
    )
    .map_err(map_err)?;
    let status = (current.status == OrderStatus::Pending).then_some(OrderStatus::Processing);
    let change = StatusChange { status, ..Default::default() };
    apply_change(conn, currency, current, &change, Some((Upstream::Submitted, note)), now)
}

pub fn cancel_order(
    conn: &Connection,
    currency: &Currency,
    customer: Option<CustomerId>,
    id: &OrderId,
    now: Millis,
) -> StoreResult<CancelOutcome> {
    let current = order(conn, customer, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    let service = super::sql::service(conn, current.service_id)?;
    match rules::cancel_decision(&current, service.as_ref())? {
        rules::CancelDecision::Local => {
            let change = StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() };
            Ok(CancelOutcome::Canceled(apply_change(conn, currency, &current, &change, None, now)?))
        }
        rules::CancelDecision::AskProvider => Ok(CancelOutcome::AskProvider(current)),
        rules::CancelDecision::AlreadyCanceled => Ok(CancelOutcome::Canceled(current)),
    }
}

const REFILL_COLUMNS: &str = "id, order_id, provider_refill_id, status, created_at";

fn refill_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RefillRecord> {
    Ok(RefillRecord {
        id: r.get(0)?,
        order_id: r.get(1)?,
        provider_refill_id: r.get(2)?,
        status: r.get(3)?,
        created_at: r.get(4)?,
    })
}

/// Records a refill made without an idempotency key.
pub fn create_refill(
    conn: &Connection,
    id: &OrderId,
    provider_refill_id: Option<&str>,
    status: &str,
    now: Millis,
) -> StoreResult<RefillRecord> {
    conn.query_row(
        &format!(
            "INSERT INTO refills (order_id, provider_refill_id, status, created_at) VALUES (?1, ?2, ?3, ?4)
             RETURNING {REFILL_COLUMNS}"
        ),
        params![id.as_str(), provider_refill_id, status, now],
        refill_row,
    )
    .map_err(map_err)
}

/// Takes the key for a refill (see `Store::reserve_refill`): a new reservation, or one whose
/// request has been gone since before `stale_before`, else what the key already holds.
pub fn reserve_refill(
    conn: &Connection,
    id: &OrderId,
    key: &str,
    stale_before: Millis,
    now: Millis,
) -> StoreResult<RefillReservation> {
    let taken = conn
        .query_row(
            &format!(
                "INSERT INTO refills (order_id, status, created_at, idempotency_key) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (order_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO UPDATE
                     SET created_at = excluded.created_at
                     WHERE refills.status = ?2 AND refills.created_at < ?5
                 RETURNING {REFILL_COLUMNS}"
            ),
            params![id.as_str(), REFILL_REQUESTING, now, key, stale_before],
            refill_row,
        )
        .optional()
        .map_err(map_err)?;
    if let Some(refill) = taken {
        return Ok(RefillReservation::Reserved(refill));
    }
    let held = conn
        .query_row(
            &format!("SELECT {REFILL_COLUMNS} FROM refills WHERE order_id = ?1 AND idempotency_key = ?2"),
            params![id.as_str(), key],
            refill_row,
        )
        .map_err(map_err)?;
    Ok(if held.status == REFILL_REQUESTING { RefillReservation::Busy } else { RefillReservation::Earlier(held) })
}

pub fn settle_refill(
    conn: &Connection,
    hold: RefillHold,
    provider_refill_id: Option<&str>,
    status: &str,
) -> StoreResult<RefillRecord> {
    conn.query_row(
        &format!(
            "UPDATE refills SET provider_refill_id = ?3, status = ?4
             WHERE id = ?1 AND created_at = ?2 AND status = ?5 RETURNING {REFILL_COLUMNS}"
        ),
        params![hold.refill, hold.taken_at, provider_refill_id, status, REFILL_REQUESTING],
        refill_row,
    )
    .optional()
    .map_err(map_err)?
    .ok_or_else(|| StoreError::NotFound(format!("refill {} is not held by this request", hold.refill)))
}

fn refill_by_id(conn: &Connection, refill: i64) -> StoreResult<RefillRecord> {
    conn.query_row(&format!("SELECT {REFILL_COLUMNS} FROM refills WHERE id = ?1"), [refill], refill_row)
        .optional()
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound(format!("refill {refill}")))
}

pub fn refills(conn: &Connection, filter: &RefillFilter) -> StoreResult<Vec<RefillRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {REFILL_COLUMNS} FROM refills
             WHERE (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR order_id = ?3)
             ORDER BY id DESC LIMIT ?1"
        ))
        .map_err(map_err)?;
    let rows = stmt.query_map(params![filter.limit, filter.status, filter.order_id], refill_row).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn close_refill(conn: &Connection, refill: i64, status: &str) -> StoreResult<RefillRecord> {
    let current = refill_by_id(conn, refill)?;
    rules::may_close_refill(&current, status)?;
    conn.query_row(
        &format!("UPDATE refills SET status = ?2 WHERE id = ?1 RETURNING {REFILL_COLUMNS}"),
        params![refill, status],
        refill_row,
    )
    .map_err(map_err)
}

pub fn release_refill(conn: &Connection, hold: RefillHold) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM refills WHERE id = ?1 AND created_at = ?2 AND status = ?3",
        params![hold.refill, hold.taken_at, REFILL_REQUESTING],
    )
    .map_err(map_err)?;
    Ok(())
}
