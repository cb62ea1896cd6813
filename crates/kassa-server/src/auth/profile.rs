//! Authentication of the profile dialect, as an extractor: a handler that takes
//! [`ProfileSigned`] only runs for a request whose headers, timestamp, key, signature, customer,
//! address and rate all pass, and gets the verified body bytes.
//!
//! Checks, in order, the first failure answering:
//! 1. a body not declared `application/json` (415);
//! 2. the three headers — every empty one is named (401);
//! 3. the timestamp's form and its ±30 s window (401);
//! 4. the signature's form: base64 of 32 bytes (401 `Invalid Signature`);
//! 5. a declared `Content-Length` over the route's limit (413, before reading anything);
//! 6. the key (401 `Invalid Api Key`) — before the body, so only a holder of a real key makes the
//!    server read an upload;
//! 7. for `profile/verify`, the customer's turn (one upload at a time each), then a share of the
//!    upload budget (both wait);
//! 8. the body, read with the route's limit: never more than the limit is buffered (413);
//! 9. the signature over `timestamp + method + requestPath + body` (401 `Invalid Signature`);
//! 10. the customer, the client address and the rate, exactly as in v1 ([`super::admit`]).

use std::marker::PhantomData;

use axum::body::{to_bytes, Bytes};
use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::{header, HeaderMap, StatusCode};
use kassa_store::{now_millis, ApiKeyRecord};
use kassa_wire::profile::messages;
use kassa_wire::sign::profile::{hmac_key, parse_signature, parse_timestamp_millis, SignedRequest};
use tokio::sync::OwnedSemaphorePermit;

use crate::inflight::UploadTurn;

use super::{admit, failed, find_key, throttled, KeyFailure, Refusal};
use crate::api::is_json;
use crate::api::profile::error::ProfileError;
use crate::config::ServerConfig;
use crate::state::AppState;

/// How large a route's bodies may be.
pub trait BodyLimit: Send + Sync + 'static {
    fn limit(config: &ServerConfig) -> usize;
    /// Whether the route's uploads draw from the shared upload budget.
    const BUDGETED: bool;
}

/// `profile/me` and `profile/edit`: small JSON bodies.
pub struct Standard;

impl BodyLimit for Standard {
    fn limit(config: &ServerConfig) -> usize {
        config.profile_body_limit
    }
    const BUDGETED: bool = false;
}

/// `profile/verify`: up to two documents of 10 MiB in base64.
pub struct Verify;

impl BodyLimit for Verify {
    fn limit(config: &ServerConfig) -> usize {
        config.profile_verify_body_limit
    }
    const BUDGETED: bool = true;
}

/// `bytes` in whole KiB, the unit of the upload budget.
pub fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// Permits of the whole upload budget (at least one, so a misconfigured zero cannot stall).
pub fn budget_permits(config: &ServerConfig) -> u32 {
    kib(config.profile_verify_inflight).max(1)
}

/// A request that passed every check of the dialect.
pub struct ProfileSigned<L = Standard> {
    pub key: ApiKeyRecord,
    pub body: Bytes,
    /// Held until the handler is done with the body and what it decoded from it.
    budget: Option<UploadShare>,
    limit: PhantomData<L>,
}

/// What a `profile/verify` upload holds while its body is in memory: its customer's turn and its
/// share of the upload budget. The key is checked before the body is read, but the signature
/// only after (it covers the body): the turn keeps a key known without its secret from taking
/// more than one upload's share of the budget.
pub struct UploadShare {
    _budget: OwnedSemaphorePermit,
    _turn: UploadTurn,
}

impl<L> ProfileSigned<L> {
    /// The key, the body and the upload share; keep the share alive while the body's memory is.
    pub fn into_parts(self) -> (ApiKeyRecord, Bytes, Option<UploadShare>) {
        (self.key, self.body, self.budget)
    }
}

/// Whether the request carries a body: a non-zero `Content-Length`, or a chunked one.
fn has_body(headers: &HeaderMap) -> bool {
    match declared_length(headers) {
        Some(length) => length > 0,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

impl<L: BodyLimit> FromRequest<AppState> for ProfileSigned<L> {
    type Rejection = ProfileError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ProfileError> {
        let (parts, body) = request.into_parts();
        if has_body(&parts.headers) && !is_json(&parts.headers) {
            return Err(ProfileError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, messages::CONTENT_TYPE));
        }

        let header =
            |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
        let (api_key, signature, timestamp) =
            (header("bb-access-key"), header("bb-access-sign"), header("bb-access-timestamp"));
        let (Some(api_key), Some(signature), Some(timestamp)) = (api_key, signature, timestamp) else {
            let empty = [
                (api_key.is_none(), messages::EMPTY_KEY),
                (signature.is_none(), messages::EMPTY_SIGN),
                (timestamp.is_none(), messages::EMPTY_TIMESTAMP),
            ];
            let errors = empty.iter().filter(|(is_empty, _)| *is_empty).map(|(_, m)| m.to_string()).collect();
            return Err(ProfileError::list(StatusCode::UNAUTHORIZED, errors));
        };
        if let Some(retry_after_secs) = throttled(state, &parts) {
            return Err(ProfileError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many requests from this address failed authentication, retry in {retry_after_secs} seconds"
                ),
            )
            .retry_after(retry_after_secs));
        }

        let sent_at =
            parse_timestamp_millis(timestamp).map_err(|_| ProfileError::unauthorized(messages::INVALID_TIMESTAMP))?;
        // Both directions: a clock that runs ahead is as wrong as a replayed request.
        if sent_at.abs_diff(now_millis()) > state.config.profile_timestamp_window.as_millis() as u64 {
            return Err(ProfileError::unauthorized(messages::TIMESTAMP_EXPIRED));
        }
        let signature =
            parse_signature(signature).map_err(|_| ProfileError::unauthorized(messages::INVALID_SIGNATURE))?;

        let limit = L::limit(&state.config);
        let declared = declared_length(&parts.headers);
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(ProfileError::too_large(limit));
        }

        let key_failure = |failure| match failure {
            KeyFailure::Invalid => {
                failed(state, &parts);
                ProfileError::unauthorized(messages::INVALID_API_KEY)
            }
            KeyFailure::Store(e) => ProfileError::from_store(e),
            KeyFailure::Secret(e) => ProfileError::internal(format!("API secret of a key does not open: {e}")),
        };
        let key = find_key(state, api_key).await.map_err(key_failure)?;

        let budget = if L::BUDGETED {
            let turn = state.verify_uploads.wait(key.record.key.customer_id).await;
            // Reserve what the body may take before reading it: its declared length, or the
            // whole limit when it is sent chunked.
            let reserve = declared.map_or(limit, |length| length as usize);
            let permits = kib(reserve).clamp(1, budget_permits(&state.config));
            let permit =
                state.verify_budget.clone().acquire_many_owned(permits).await.map_err(ProfileError::internal)?;
            Some(UploadShare { _budget: permit, _turn: turn })
        } else {
            None
        };
        let body = to_bytes(body, limit).await.map_err(|_| ProfileError::too_large(limit))?;

        let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |original| &original.0);
        let request_path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let signed = SignedRequest { method: parts.method.as_str(), request_path, timestamp, body: &body };
        let verified = match hmac_key(&key.secret) {
            Ok(hmac_key) => signed.verify(&hmac_key, &signature),
            Err(_) => {
                // kassa issues base64 secrets; one that is not cannot sign this dialect.
                tracing::warn!(key_id = key.record.key.id, "API secret is not base64; it cannot sign profile requests");
                false
            }
        };
        if !verified {
            failed(state, &parts);
            return Err(ProfileError::unauthorized(messages::INVALID_SIGNATURE));
        }

        // An upload may take minutes to arrive: its key is looked up again once it has, so that a
        // key revoked, or a customer disabled, meanwhile is refused as on its next request.
        let record = match L::BUDGETED {
            true => find_key(state, api_key).await.map_err(key_failure)?.record,
            false => key.record,
        };
        admit(state, &parts, &record).await.map_err(|refusal| match refusal {
            Refusal::CustomerDisabled => ProfileError::new(StatusCode::FORBIDDEN, messages::ACCOUNT_DISABLED),
            Refusal::IpNotAllowed => ProfileError::new(StatusCode::FORBIDDEN, messages::IP_NOT_ALLOWED),
            Refusal::RateLimited { retry_after_secs } => ProfileError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Rate limit exceeded, retry in {retry_after_secs} seconds"),
            )
            .retry_after(retry_after_secs),
        })?;
        Ok(ProfileSigned { key: record.key, body, budget, limit: PhantomData })
    }
}
