//! `PUT /profile/edit`: only the listed fields change; every invalid field is reported at once
//! (400); an email or username another customer has is a conflict (409). Answers the profile as
//! it now is, in the shape of `profile/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kassa_core::profile::parse_edit;
use kassa_wire::profile::{Envelope, Profile, ProfileEdit};
use serde_json::{Map, Value};

use super::error::ProfileError;
use crate::auth::profile::ProfileSigned;
use crate::state::AppState;
use kassa_store::present;

#[utoipa::path(
    put,
    path = "/profile/edit",
    tag = "Profile",
    operation_id = "profile_edit",
    summary = "Change profile fields",
    description = "Only the listed fields change; none listed is `No user field listed`. Every invalid field is \
        reported at once. Answers the profile as it now is.",
    request_body(content = ProfileEdit, content_type = "application/json"),
    responses((status = 200, description = "The updated profile", body = Envelope<Profile>)),
)]
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
