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
pub mod logging;
pub mod middleware;
pub mod ratelimit;
pub mod state;
pub mod webhooks;

use std::future::Future;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
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
        .merge(docs())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) })
        // Each dialect reads its body with its own limit and its own error envelope.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::request_context))
        .with_state(state)
}

/// `GET /openapi.json` (the description) and `GET /docs` (Swagger UI over it, its assets inside
/// the binary: no CDN, no internet needed). "Try it out" is off: requests must be signed, which a
/// browser form cannot do; the SDK and `kassa api` can.
fn docs() -> Router<AppState> {
    let config = utoipa_swagger_ui::Config::new(["/openapi.json"])
        .validator_url("none")
        .supported_submit_methods(Vec::<String>::new())
        .try_it_out_enabled(false);
    utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", api::openapi::document()).config(config).into()
}

/// Connections the kernel may hold completed for the accept loop (the kernel caps it at
/// `net.core.somaxconn`). Binding through std or tokio asks for 128, and a burst of new clients
/// beyond that overflowed the queue: the kernel dropped the handshake's last packet and the client
/// waited a whole second for the retransmission (seen as 1 s answers amid a 600-connection burst).
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `address` with [`LISTEN_BACKLOG`], for [`serve`].
pub fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As std and tokio do on Unix: a restarted server can bind while old connections are in
    // TIME_WAIT. (On Windows the option would let another process take the port.)
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves until `shutdown` resolves, then finishes the requests in progress (for at most
/// [`ServerConfig::shutdown_grace`]).
///
/// The connection loop is hyper's own rather than `axum::serve`, for the limits a public server
/// needs: a client must send its request head within [`ServerConfig::header_read_timeout`]
/// (slow-loris connections are cut), the head is bounded by [`ServerConfig::max_header_bytes`]
/// (answered 431 beyond), and at most [`ServerConfig::max_connections`] connections are open at
/// once (beyond that, new ones wait in the listen backlog).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config.clone();
    let detached = state.detached.clone();
    serve_router(listener, router(state), &config, shutdown).await?;
    // Work whose request has ended (a refill being recorded) finishes too, within the grace.
    detached.close();
    if tokio::time::timeout(config.shutdown_grace, detached.wait()).await.is_err() {
        tracing::warn!(tasks = detached.len(), "work still running after the shutdown grace period was cut");
    }
    Ok(())
}

/// [`serve`] for a router built from [`router`] with layers of the caller's (the tests check
/// every response against the OpenAPI description this way).
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::Layer;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes.max(8192))
        .keep_alive(true);
    let connections = std::sync::Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the connection semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service =
            tower_http::add_extension::AddExtensionLayer::new(axum::extract::ConnectInfo(peer)).layer(app.clone());
        let connection =
            http.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after the shutdown grace period were cut");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// A burst of connections the accept loop has not taken yet all complete their handshakes:
    /// with the 128 std and tokio ask for, the kernel dropped the handshakes beyond it.
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog_rather_than_being_dropped() {
        let listener = super::listen(([127, 0, 0, 1], 0).into()).unwrap();
        let address = listener.local_addr().unwrap();
        let connects: Vec<_> = (0..512)
            .map(|_| {
                tokio::spawn(async move {
                    tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(address)).await
                })
            })
            .collect();
        let mut held = Vec::new();
        for connect in connects {
            let stream = connect.await.unwrap().expect("the handshake completed without a retransmission");
            held.push(stream.unwrap());
        }
        drop(listener);
    }
}
