//! `GET /healthz` (the process answers; touches nothing) and `GET /readyz` (the database answers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kassa_wire::v1::HealthResponse;

use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Service",
    operation_id = "healthz",
    summary = "Liveness",
    description = "The process answers. Touches no database.",
    responses((status = 200, description = "Alive", body = HealthResponse)),
)]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse { success: true, status: "ok".into() })
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Service",
    operation_id = "readyz",
    summary = "Readiness",
    description = "200 when the database answers, 503 otherwise (for load balancers).",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "The database does not answer", body = HealthResponse),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(HealthResponse { success: true, status: "ready".into() })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthResponse { success: false, status: "database_unavailable".into() }),
            )
        }
    }
}

/// `GET /time` (unsigned): the server clock, for clients to measure their skew.
#[utoipa::path(
    get,
    path = "/time",
    tag = "Service",
    operation_id = "time",
    summary = "Server time",
    description = "The server clock, for clients to measure their clock skew (the profile API allows 30 s).",
    responses((status = 200, description = "The server time", body = kassa_wire::profile::ServerTime)),
)]
pub async fn time() -> Json<kassa_wire::profile::ServerTime> {
    let now = chrono::Utc::now();
    Json(kassa_wire::profile::ServerTime {
        iso: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        epoch: now.timestamp_millis() as f64 / 1000.0,
    })
}
