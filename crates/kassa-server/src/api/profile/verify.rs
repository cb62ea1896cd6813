//! `POST /profile/verify`: files an identity verification.
//!
//! The state is checked first, so a customer who cannot submit (in process, completed,
//! cancelled: 409 with the seed's message) is told so before megabytes are decoded. Then the
//! body is checked (400, every problem at once), the id number and the documents are sealed with
//! the master key, and the store writes the verification, its documents and its audit entry in
//! one transaction — re-checking the state there, so two submissions at once file one.
//!
//! Decoding and sealing up to 20 MiB is CPU work and runs on the blocking pool, not on the
//! threads that serve other requests. Nothing here logs the body, the documents or the id
//! number.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kassa_core::crypto::Vault;
use kassa_core::verification::{document_context, id_number_context, may_submit, new_reference, parse_verify};
use kassa_store::{NewDocument, NewVerification};
use kassa_wire::profile::{Envelope, Verification, VerifyRequest};
use serde_json::value::RawValue;

use super::error::ProfileError;
use crate::auth::profile::{ProfileSigned, Verify};
use crate::state::AppState;
use kassa_store::present;

#[utoipa::path(
    post,
    path = "/profile/verify",
    tag = "Profile",
    operation_id = "profile_verify",
    summary = "File an identity verification",
    description = "Documents are base64 in the body, typed by their bytes (JPEG, PNG, PDF), at most 10 MiB each \
        decoded, and stored encrypted. A verification in process, completed or cancelled refuses a new one (409, \
        the seed's messages).",
    request_body(content = VerifyRequest, content_type = "application/json"),
    responses((status = 200, description = "The verification, in process", body = Envelope<Verification>)),
)]
pub async fn verify(
    State(state): State<AppState>,
    signed: ProfileSigned<Verify>,
) -> Result<Json<Envelope<Verification>>, ProfileError> {
    let (key, body, _budget) = signed.into_parts();
    let latest = state.store.latest_verification(key.customer_id).await.map_err(ProfileError::from_store)?;
    may_submit(latest.map(|v| v.status)).map_err(ProfileError::refused)?;

    let vault = state.vault.clone();
    let customer = key.customer_id;
    let actor = format!("api_key:{}", key.api_key);
    let new = tokio::task::spawn_blocking(move || prepare(body, &vault, customer, actor))
        .await
        .map_err(ProfileError::internal)??;
    let record = state.store.submit_verification(new).await.map_err(ProfileError::from_store)?;
    Ok(Json(Envelope { success: true, response: present::verification(&record) }))
}

/// Checks the body and seals what must not be stored in clear. Takes the body by value so its
/// megabytes are freed as soon as the documents are sealed.
fn prepare(
    body: Bytes,
    vault: &Vault,
    customer_id: kassa_core::CustomerId,
    actor: String,
) -> Result<NewVerification, ProfileError> {
    let submission = {
        let fields: BTreeMap<String, &RawValue> = super::object(&body)?;
        parse_verify(&fields).map_err(|errors| ProfileError::list(StatusCode::BAD_REQUEST, errors))?
    };
    drop(body);
    let reference = new_reference();
    let id_number_sealed = vault.seal(submission.id_number.as_bytes(), &id_number_context(&reference));
    let documents = submission
        .documents
        .into_iter()
        .map(|(slot, document)| NewDocument {
            slot,
            kind: document.kind,
            size: document.bytes.len() as u64,
            sealed: vault.seal(&document.bytes, &document_context(&reference, slot)),
        })
        .collect();
    Ok(NewVerification {
        customer_id,
        reference,
        verify_type: submission.verify_type,
        first_name: submission.first_name,
        gender: submission.gender,
        id_number_sealed,
        documents,
        actor,
    })
}
