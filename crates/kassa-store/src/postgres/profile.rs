//! Profiles and identity verification on PostgreSQL (the twin of the SQLite statements).

use deadpool_postgres::GenericClient;
use kassa_core::profile::{ProfileChanges, ProfileField};
use kassa_core::verification::{may_submit, VerificationRefusal};
use kassa_core::CustomerId;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::map_err;
use super::sql::customer;
use crate::model::*;
use crate::{StoreError, StoreResult};

fn unique_violation_on(error: &tokio_postgres::Error, constraint: &str) -> bool {
    error.as_db_error().is_some_and(|d| d.code() == &SqlState::UNIQUE_VIOLATION && d.constraint() == Some(constraint))
}

pub async fn update_profile(
    tx: &impl GenericClient,
    id: CustomerId,
    changes: &ProfileChanges,
    now: Millis,
) -> StoreResult<Customer> {
    if changes.is_empty() {
        return Err(StoreError::Invalid("a profile edit must change at least one field".into()));
    }
    // Column names come from `ProfileField`, a closed set, never from the request; values are
    // bound parameters.
    let mut assignments = Vec::new();
    let mut values: Vec<Option<&str>> = Vec::new();
    for (field, value) in changes.iter() {
        values.push(value);
        assignments.push(format!("{} = ${}", field.as_str(), values.len()));
    }
    let sql = format!(
        "UPDATE customers SET {}, updated_at = ${} WHERE id = ${}",
        assignments.join(", "),
        values.len() + 1,
        values.len() + 2
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    params.push(&now);
    params.push(&id.0);
    match tx.execute(sql.as_str(), &params).await {
        Ok(0) => Err(StoreError::NotFound(format!("customer {id}"))),
        Ok(_) => customer(tx, id).await?.ok_or_else(|| StoreError::NotFound(format!("customer {id}"))),
        Err(e) if unique_violation_on(&e, "customers_email") => Err(StoreError::Taken { field: ProfileField::Email }),
        Err(e) if unique_violation_on(&e, "customers_username") => {
            Err(StoreError::Taken { field: ProfileField::Username })
        }
        Err(e) => Err(map_err(e)),
    }
}

const VERIFICATION_COLUMNS: &str = "v.id, v.reference, v.customer_id, v.status, v.verify_type, v.first_name, \
     v.gender, v.id_number_sealed, v.submitted_at, v.reviewed_at, v.reviewed_by, v.review_reason, \
     (SELECT string_agg(d.slot || ':' || d.content_type || ':' || d.size, ',') \
      FROM verification_documents d WHERE d.verification_id = v.id) AS documents";

fn parse<T: std::str::FromStr>(row: &Row, column: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    let text: &str = row.get(column);
    text.parse().map_err(|e| StoreError::Internal(format!("column {column}: {e}")))
}

fn verification_row(row: &Row) -> StoreResult<VerificationRecord> {
    let gender: i16 = row.get("gender");
    let documents: Option<&str> = row.get("documents");
    Ok(VerificationRecord {
        id: row.get("id"),
        reference: row.get("reference"),
        customer_id: CustomerId(row.get("customer_id")),
        status: parse(row, "status")?,
        verify_type: parse(row, "verify_type")?,
        first_name: row.get("first_name"),
        gender: Gender::from_code(i64::from(gender))
            .ok_or_else(|| StoreError::Internal(format!("bad gender {gender}")))?,
        id_number_sealed: row.get("id_number_sealed"),
        submitted_at: row.get("submitted_at"),
        reviewed_at: row.get("reviewed_at"),
        reviewed_by: row.get("reviewed_by"),
        review_reason: row.get("review_reason"),
        documents: crate::rules::parse_document_list(documents.unwrap_or_default()).map_err(StoreError::Internal)?,
    })
}

fn audit_row(row: &Row) -> StoreResult<AuditEntry> {
    let from_status: Option<&str> = row.get("from_status");
    Ok(AuditEntry {
        id: row.get("id"),
        verification_id: row.get("verification_id"),
        customer_id: CustomerId(row.get("customer_id")),
        action: parse(row, "action")?,
        from_status: from_status
            .map(str::parse)
            .transpose()
            .map_err(|e| StoreError::Internal(format!("from_status: {e}")))?,
        to_status: parse(row, "to_status")?,
        actor: row.get("actor"),
        reason: row.get("reason"),
        created_at: row.get("created_at"),
    })
}

async fn insert_audit(
    tx: &impl GenericClient,
    verification: &VerificationRecord,
    action: AuditAction,
    to_status: VerificationStatus,
    actor: &str,
    reason: Option<&str>,
    now: Millis,
) -> StoreResult<()> {
    let from_status = (action != AuditAction::Submit).then(|| verification.status.as_str());
    tx.execute(
        "INSERT INTO verification_audit (verification_id, customer_id, action, from_status, to_status, actor, reason, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[&verification.id, &verification.customer_id.0, &action.as_str(), &from_status, &to_status.as_str(), &actor, &reason, &now],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn submit_verification(
    tx: &impl GenericClient,
    new: &NewVerification,
    now: Millis,
) -> StoreResult<VerificationRecord> {
    // Lock the customer row: concurrent submissions of one customer take turns.
    let exists = tx
        .query_opt("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", &[&new.customer_id.0])
        .await
        .map_err(map_err)?;
    exists.ok_or_else(|| StoreError::NotFound(format!("customer {}", new.customer_id)))?;
    may_submit(latest_verification(tx, new.customer_id).await?.map(|v| v.status))?;
    let inserted = tx
        .query_one(
            "INSERT INTO verifications (reference, customer_id, status, verify_type, first_name, gender,
                                        id_number_sealed, submitted_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
            &[
                &new.reference,
                &new.customer_id.0,
                &VerificationStatus::InProcess.as_str(),
                &new.verify_type.as_str(),
                &new.first_name,
                &(new.gender.code() as i16),
                &new.id_number_sealed,
                &now,
            ],
        )
        .await;
    let id: i64 = match inserted {
        Ok(row) => row.get(0),
        Err(e) if unique_violation_on(&e, "verifications_one_standing") => {
            return Err(VerificationRefusal::AlreadyInProcess.into())
        }
        Err(e) => return Err(map_err(e)),
    };
    for document in &new.documents {
        tx.execute(
            "INSERT INTO verification_documents (verification_id, slot, content_type, size, sealed, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &id,
                &(document.slot.number() as i16),
                &document.kind.as_str(),
                &(document.size as i64),
                &document.sealed,
                &now,
            ],
        )
        .await
        .map_err(map_err)?;
    }
    let record = verification(tx, id).await?.ok_or_else(|| StoreError::Internal("verification vanished".into()))?;
    insert_audit(tx, &record, AuditAction::Submit, record.status, &new.actor, None, now).await?;
    Ok(record)
}

pub async fn latest_verification(
    c: &impl GenericClient,
    customer: CustomerId,
) -> StoreResult<Option<VerificationRecord>> {
    let row = c
        .query_opt(
            &format!("SELECT {VERIFICATION_COLUMNS} FROM verifications v WHERE v.customer_id = $1 ORDER BY v.id DESC LIMIT 1"),
            &[&customer.0],
        )
        .await
        .map_err(map_err)?;
    row.as_ref().map(verification_row).transpose()
}

pub async fn verification(c: &impl GenericClient, id: i64) -> StoreResult<Option<VerificationRecord>> {
    let row = c
        .query_opt(&format!("SELECT {VERIFICATION_COLUMNS} FROM verifications v WHERE v.id = $1"), &[&id])
        .await
        .map_err(map_err)?;
    row.as_ref().map(verification_row).transpose()
}

pub async fn list_verifications(
    c: &impl GenericClient,
    filter: &VerificationFilter,
) -> StoreResult<Vec<VerificationRecord>> {
    let rows = c
        .query(
            &format!(
                "SELECT {VERIFICATION_COLUMNS} FROM verifications v
                 WHERE ($1::TEXT IS NULL OR v.status = $1) AND ($2::BIGINT IS NULL OR v.customer_id = $2)
                 ORDER BY v.id LIMIT $3"
            ),
            &[&filter.status.map(|s| s.as_str()), &filter.customer_id.map(|c| c.0), &i64::from(filter.limit)],
        )
        .await
        .map_err(map_err)?;
    rows.iter().map(verification_row).collect()
}

pub async fn verification_document(
    c: &impl GenericClient,
    id: i64,
    slot: DocumentSlot,
) -> StoreResult<Option<SealedDocument>> {
    let row = c
        .query_opt(
            "SELECT v.reference, d.content_type, d.size, d.sealed
             FROM verification_documents d JOIN verifications v ON v.id = d.verification_id
             WHERE d.verification_id = $1 AND d.slot = $2",
            &[&id, &(slot.number() as i16)],
        )
        .await
        .map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    let size: i64 = row.get("size");
    Ok(Some(SealedDocument {
        verification_id: id,
        reference: row.get("reference"),
        info: DocumentInfo {
            slot,
            kind: parse(&row, "content_type")?,
            size: u64::try_from(size).map_err(|e| StoreError::Internal(format!("size: {e}")))?,
        },
        sealed: row.get("sealed"),
    }))
}

pub async fn review_verification(
    tx: &impl GenericClient,
    review: &Review,
    now: Millis,
) -> StoreResult<VerificationRecord> {
    let id = review.verification_id;
    let current = verification(tx, id).await?.ok_or_else(|| StoreError::NotFound(format!("verification {id}")))?;
    let next = current.status.review(review.action)?;
    let actor = review.actor.trim();
    if actor.is_empty() {
        return Err(StoreError::Invalid("a review needs an actor: who decided".into()));
    }
    // Conditional on the status read above, so two operators deciding at once cannot both win.
    let changed = tx
        .execute(
            "UPDATE verifications SET status = $1, reviewed_at = $2, reviewed_by = $3, review_reason = $4, updated_at = $2
             WHERE id = $5 AND status = $6",
            &[&next.as_str(), &now, &actor, &review.reason, &id, &VerificationStatus::InProcess.as_str()],
        )
        .await
        .map_err(map_err)?;
    if changed == 0 {
        let status = verification(tx, id).await?.map(|v| v.status).unwrap_or(current.status);
        return Err(VerificationRefusal::NotInProcess { status }.into());
    }
    if review.action == ReviewAction::Approve {
        tx.execute(
            "UPDATE customers SET verified = TRUE, updated_at = $1 WHERE id = $2",
            &[&now, &current.customer_id.0],
        )
        .await
        .map_err(map_err)?;
    }
    insert_audit(tx, &current, review.action.into(), next, actor, review.reason.as_deref(), now).await?;
    verification(tx, id).await?.ok_or_else(|| StoreError::NotFound(format!("verification {id}")))
}

pub async fn verification_audit(c: &impl GenericClient, id: i64) -> StoreResult<Vec<AuditEntry>> {
    let rows = c
        .query(
            "SELECT id, verification_id, customer_id, action, from_status, to_status, actor, reason, created_at
             FROM verification_audit WHERE verification_id = $1 ORDER BY id",
            &[&id],
        )
        .await
        .map_err(map_err)?;
    rows.iter().map(audit_row).collect()
}
