//! The server's own settings (the binary resolves them from flags, environment and file).

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

/// Largest body of a `/api/v1` request.
pub const DEFAULT_V1_BODY_LIMIT: usize = 64 * 1024;
/// Largest body of a profile request other than `profile/verify`.
pub const DEFAULT_PROFILE_BODY_LIMIT: usize = 64 * 1024;
/// Largest body of `profile/verify`: two documents of 10 MiB in base64 (13.3 MiB each), room for
/// line-wrapped base64 (up to 5% more) and the other fields — 32 MiB.
pub const DEFAULT_PROFILE_VERIFY_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Bytes of `profile/verify` bodies the server holds at once (each request reserves its declared
/// length, or the whole limit when it declares none, before reading). Bounds the memory many
/// simultaneous uploads can take; a request over the budget waits for room.
pub const DEFAULT_PROFILE_VERIFY_INFLIGHT: usize = 128 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Peers allowed to set `X-Forwarded-For`; from anyone else the header is ignored.
    pub trusted_proxies: Vec<IpNet>,
    pub v1_body_limit: usize,
    pub profile_body_limit: usize,
    pub profile_verify_body_limit: usize,
    pub profile_verify_inflight: usize,
    /// A request that takes longer is answered 503 and its work abandoned (never half-written:
    /// every write is one transaction).
    pub request_timeout: Duration,
    /// Allowed distance of `BB-ACCESS-TIMESTAMP` from the server clock.
    pub profile_timestamp_window: Duration,
    /// Redis for cluster-wide rate limits; `None` = each process limits on its own.
    pub redis_url: Option<String>,
    /// Longest wait to connect to, and to hear back from, an upstream provider.
    pub provider_connect_timeout: Duration,
    pub provider_timeout: Duration,
    /// Accept webhook endpoints on loopback and private networks (SSRF guard off).
    pub webhook_allow_private: bool,
    /// A client must send its whole request head within this time (slow-loris defence).
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers); larger ones are answered 431.
    pub max_header_bytes: usize,
    /// Most connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long a shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
    /// A signed order request places at most one order, whatever idempotency key a replay of it
    /// carries (identical requests signed in the same second are one request).
    pub order_replay_guard: bool,
    /// Failed authentications (unknown key, wrong signature) a client address may have per
    /// minute before it is turned away for a while; 0 = no limit.
    pub auth_failures_per_minute: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            trusted_proxies: Vec::new(),
            v1_body_limit: DEFAULT_V1_BODY_LIMIT,
            profile_body_limit: DEFAULT_PROFILE_BODY_LIMIT,
            profile_verify_body_limit: DEFAULT_PROFILE_VERIFY_BODY_LIMIT,
            profile_verify_inflight: DEFAULT_PROFILE_VERIFY_INFLIGHT,
            request_timeout: Duration::from_secs(30),
            profile_timestamp_window: Duration::from_secs(30),
            redis_url: None,
            provider_connect_timeout: Duration::from_secs(5),
            provider_timeout: Duration::from_secs(30),
            webhook_allow_private: false,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
            order_replay_guard: true,
            auth_failures_per_minute: 60,
        }
    }
}
