//! `PUT /profile/edit`: only the listed fields change; every invalid field is reported at once
//! (400); an email or username another customer has is a conflict (409). Answers the profile as
//! it now is, in the shape of `profile/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kassa_core::profile::parse_edit;
use kassa_wire::profile::{Envelope, Profile};
use serde_json::{Map, Value};

use super::error::ProfileError;
use crate::auth::profile::ProfileSigned;
use crate::state::AppState;
use kassa_store::present;

pub async fn edit(
    State(state): State<AppState>,
    signed: ProfileSigned,
) -> Result<Json<Envelope<Profile>>, ProfileError> {
    let body: Map<String, Value> = super::object(&signed.body)?;
    let changes = parse_edit(&body).map_err(|errors| ProfileError::list(StatusCode::BAD_REQUEST, errors))?;
    let customer =
        state.store.update_profile(signed.key.customer_id, changes).await.map_err(ProfileError::from_store)?;
    Ok(Json(Envelope { success: true, response: present::profile(&customer) }))
}
