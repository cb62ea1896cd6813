//! Authentication of the BuyShazam dialect, as an extractor: a handler that takes [`Signed`]
//! only runs for a request whose key, timestamp, signature, address and rate all pass, and gets
//! the verified body bytes.
//!
//! Checks, in order: the three headers (`missing_auth_headers`), the timestamp's form
//! (`invalid_timestamp`) and window (`timestamp_out_of_range`), the signature's form, the body
//! size, the key (`invalid_api_key`), the signature (`invalid_signature`), the customer
//! (`customer_not_found`), the address (`ip_not_allowed`) and the rate (`rate_limited`). An
//! address whose requests failed the key or signature check too often is refused (`rate_limited`)
//! right after the header check, before any of the costly ones.

use axum::body::{to_bytes, Bytes};
use axum::extract::{FromRequest, Request};
use kassa_core::{ErrorCode, Minor};
use kassa_store::ApiKeyRecord;
use kassa_wire::sign::buyshazam::{parse_signature, parse_timestamp, timestamp_in_window, SignedRequest};

use super::{admit, failed, find_key, throttled, KeyFailure, Refusal};
use crate::error::ApiError;
use crate::state::AppState;

/// A request that passed every check of the dialect.
pub struct Signed {
    pub key: ApiKeyRecord,
    pub body: Bytes,
    /// The verified `X-Signature`, decoded.
    pub signature: [u8; 32],
    /// The wallet balance read with the key, in the same snapshot: `None` if the wallet is gone.
    pub wallet_balance: Option<Minor>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let header =
            |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
        let (Some(api_key), Some(timestamp), Some(signature)) =
            (header("x-api-key"), header("x-timestamp"), header("x-signature"))
        else {
            return Err(ApiError::new(ErrorCode::MissingAuthHeaders));
        };
        if let Some(retry_after_secs) = throttled(state, &parts) {
            return Err(ApiError::new(ErrorCode::RateLimited)
                .with_message("Too many requests from this address failed authentication; retry later.")
                .retry_after(retry_after_secs));
        }

        let ts = parse_timestamp(timestamp).map_err(|_| ApiError::new(ErrorCode::InvalidTimestamp))?;
        if !timestamp_in_window(ts, unix_now()) {
            return Err(ApiError::new(ErrorCode::TimestampOutOfRange));
        }
        let signature = parse_signature(signature).map_err(|_| {
            ApiError::new(ErrorCode::InvalidSignature)
                .with_detail("X-Signature", "must be 64 hex characters, optionally prefixed sha256=")
        })?;
        let body = to_bytes(body, state.config.v1_body_limit).await.map_err(|_| {
            ApiError::new(ErrorCode::PayloadTooLarge)
                .with_message(format!("The request body is larger than {} bytes.", state.config.v1_body_limit))
        })?;

        let key = find_key(state, api_key).await.map_err(|failure| match failure {
            KeyFailure::Invalid => {
                failed(state, &parts);
                ApiError::new(ErrorCode::InvalidApiKey)
            }
            KeyFailure::Store(e) => ApiError::from_store(e, ErrorCode::AuthError),
            KeyFailure::Secret(e) => {
                ApiError::internal(ErrorCode::AuthError, format!("API secret of a key does not open: {e}"))
            }
        })?;

        let signed = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            timestamp,
            body: &body,
        };
        if !signed.verify(&key.secret, &signature) {
            failed(state, &parts);
            return Err(ApiError::new(ErrorCode::InvalidSignature));
        }
        admit(state, &parts, &key.record).await.map_err(|refusal| match refusal {
            Refusal::CustomerDisabled => ApiError::new(ErrorCode::CustomerNotFound),
            Refusal::IpNotAllowed => ApiError::new(ErrorCode::IpNotAllowed),
            Refusal::RateLimited { retry_after_secs } => {
                ApiError::new(ErrorCode::RateLimited).retry_after(retry_after_secs)
            }
        })?;
        Ok(Signed { key: key.record.key, body, signature, wallet_balance: key.record.wallet_balance })
    }
}
