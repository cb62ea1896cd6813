//! kassa's HTTP server: the BuyShazam and profile dialects, authentication, rate limiting and
//! the request plumbing around them. The binary (`kassa serve`) builds an [`AppState`] and calls
//! [`serve`]; the tests do the same on `127.0.0.1:0`.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod fulfilment;
pub mod inflight;
pub mod middleware;
pub mod ratelimit;
pub mod state;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use kassa_core::ErrorCode;

pub use config::ServerConfig;
pub use error::ApiError;
pub use state::AppState;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(api::health::healthz))
        .route("/readyz", get(api::health::readyz))
        .route("/time", get(api::health::time))
        .merge(api::v1::routes())
        .merge(api::profile::routes())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) })
        // Each dialect reads its body with its own limit and its own error envelope.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::request_context))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in progress.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
