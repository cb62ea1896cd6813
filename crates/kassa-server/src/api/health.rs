//! `GET /healthz` (the process answers; touches nothing) and `GET /readyz` (the database answers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kassa_wire::v1::HealthResponse;

use crate::state::AppState;

pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse { success: true, status: "ok".into() })
}

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
pub async fn time() -> Json<kassa_wire::profile::ServerTime> {
    let now = chrono::Utc::now();
    Json(kassa_wire::profile::ServerTime {
        iso: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        epoch: now.timestamp_millis() as f64 / 1000.0,
    })
}
