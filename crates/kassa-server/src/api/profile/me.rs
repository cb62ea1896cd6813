//! `GET /profile/me`

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kassa_wire::profile::{messages, Envelope, Profile};

use super::error::ProfileError;
use crate::auth::profile::ProfileSigned;
use crate::state::AppState;
use kassa_store::present;

#[utoipa::path(
    get,
    path = "/profile/me",
    tag = "Profile",
    operation_id = "profile_me",
    summary = "The profile of the signed-in customer",
    description = "Every value is a string or `null`, in the seed's shape; `verified` is `\"1\"` once an identity \
        verification was approved.",
    responses((status = 200, description = "The profile", body = Envelope<Profile>)),
)]
pub async fn me(State(state): State<AppState>, signed: ProfileSigned) -> Result<Json<Envelope<Profile>>, ProfileError> {
    let customer = state
        .store
        .customer(signed.key.customer_id)
        .await
        .map_err(ProfileError::from_store)?
        // The key's customer was checked a moment ago; gone now means removed in between.
        .ok_or_else(|| ProfileError::new(StatusCode::FORBIDDEN, messages::ACCOUNT_DISABLED))?;
    Ok(Json(Envelope { success: true, response: present::profile(&customer) }))
}
