//! The kassa SDK: typed, signed calls to a kassa server (or any server speaking the BuyShazam
//! Developer API).
//!
//! ```no_run
//! # async fn demo() -> Result<(), kassa_client::Error> {
//! use kassa_client::{Client, CreateOrderRequest};
//! let client = Client::new("http://127.0.0.1:8080", "bs_live_...", "secret")?;
//! let balance = client.balance().await?;
//! let placed = client
//!     .create_order(&CreateOrderRequest {
//!         service_id: 1,
//!         quantity: 1000,
//!         link: "https://example.com/p/1".into(),
//!         client_order_ref: None,
//!         custom_comments: None,
//!     }, None)
//!     .await?;
//! println!("{} left, order {}", balance.balance, placed.order.id);
//! # Ok(()) }
//! ```
//!
//! One client speaks both dialects with one key and secret: `/api/v1` (BuyShazam signing) and
//! `/profile` (`BB-ACCESS-*` signing, the secret base64-decoded).
//!
//! Every request is signed with a fresh timestamp. Answers that invite a retry
//! (`customer_wallet_locked`, `rate_limited`, `database_unavailable`; a profile 429 or 503) and
//! network failures are retried with the same idempotency key after `Retry-After`, a bounded
//! number of times (a `Retry-After` longer than [`RetryPolicy::max_wait`] ends the call instead
//! of retrying early), each retry logged at `info` through `tracing`; a clock-skew refusal
//! (`timestamp_out_of_range`, `BB-ACCESS-TIMESTAMP expired`) makes the client measure its skew
//! against `GET /time` once and try again. Calls that may act twice without a key (cancel,
//! webhook registration, identity upload) are sent again only when the request never left or was
//! refused before acting (rate limits). An order or refill that ends without an outcome is an
//! [`Error::Unconfirmed`] naming the idempotency key to repeat it with.
#![forbid(unsafe_code)]

mod error;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use error::Next;
pub use error::{ApiFailure, Error, ProfileFailure};
use kassa_wire::profile::Envelope;
pub use kassa_wire::profile::{Profile, ProfileEdit, ServerTime, Verification, VerifyRequest};
use kassa_wire::sign;
pub use kassa_wire::v1::{
    Ack, BalanceResponse, CancelResponse, CreateOrderRequest, CreateOrderResponse, ErrorBody, Order, OrderListResponse,
    Refill, RefillResponse, Service,
};
pub use kassa_wire::webhook::{CreateWebhookRequest, Webhook, WebhookListResponse, WebhookResponse};
pub use kassa_wire::Amount;
pub use reqwest::Method;
use serde::de::DeserializeOwned;

/// How the client retries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. `1` disables retries.
    pub max_attempts: u32,
    /// Longest single wait: a `Retry-After` beyond it ends the call with the server's answer.
    pub max_wait: Duration,
    /// First backoff for network errors; doubled each time.
    pub base_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, max_wait: Duration::from_secs(10), base_backoff: Duration::from_millis(200) }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }
}

/// A secret that does not print.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One HTTP exchange, as received.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode(format!("body is not JSON: {e}")))
    }

    /// Whether this answer replays an earlier order (`Idempotent-Replayed: true`).
    pub fn replayed(&self) -> bool {
        self.header("idempotent-replayed") == Some("true")
    }
}

/// The answer to an order creation, with whether it was a replay.
#[derive(Debug, Clone)]
pub struct PlacedOrder {
    pub order: kassa_wire::v1::CreatedOrder,
    pub replayed: bool,
    pub idempotency_key: String,
}

/// The whole-request timeout of an ordinary call.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Bodies larger than this are uploads (identity documents): their requests may take up to
/// [`UPLOAD_TIMEOUT`], since sending them over a slow link takes longer than [`TIMEOUT`].
const UPLOAD_BODY: usize = 64 * 1024;
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Which failures a call may be sent again after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Reads, and writes made once by their idempotency key: after any failure that invites it.
    Safe,
    /// Writes that could act twice: only if the request never left, or was refused before acting.
    NotIfSent,
}

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    secret: Secret,
    retry: RetryPolicy,
    /// Server clock minus local clock, in milliseconds, once measured.
    clock_offset_ms: AtomicI64,
}

impl Client {
    pub fn new(base_url: &str, api_key: &str, api_secret: &str) -> Result<Self, Error> {
        Self::with_retry(base_url, api_key, api_secret, RetryPolicy::default())
    }

    pub fn with_retry(base_url: &str, api_key: &str, api_secret: &str, retry: RetryPolicy) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("kassa-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::Network)?;
        let base_url = base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::Config(format!("base URL must start with http:// or https://, got {base_url:?}")));
        }
        Ok(Self {
            http,
            base_url,
            api_key: api_key.to_string(),
            secret: Secret(api_secret.to_string()),
            retry,
            clock_offset_ms: AtomicI64::new(0),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn now_millis(&self) -> i64 {
        let local = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        local + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Signs as if the local clock were off by `offset_ms` (server minus local). [`Client::sync_clock`]
    /// measures it; this sets it, for a client that knows its skew (and for tests).
    pub fn set_clock_offset_ms(&self, offset_ms: i64) {
        self.clock_offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// Measures the skew between this machine's clock and the server's with `GET /time`, and
    /// signs later requests with the server's time.
    pub async fn sync_clock(&self) -> Result<Duration, Error> {
        let before = SystemTime::now();
        let time = self.server_time().await?;
        let elapsed = before.elapsed().unwrap_or_default();
        let local_mid = before.duration_since(UNIX_EPOCH).unwrap_or_default() + elapsed / 2;
        let offset = (time.epoch * 1000.0) as i64 - local_mid.as_millis() as i64;
        self.clock_offset_ms.store(offset, Ordering::Relaxed);
        Ok(Duration::from_millis(offset.unsigned_abs()))
    }

    /// `GET /time` (unsigned).
    pub async fn server_time(&self) -> Result<ServerTime, Error> {
        let response = self.http.get(format!("{}/time", self.base_url)).send().await.map_err(Error::Network)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(Error::Network)?;
        if status != 200 {
            return Err(Error::Decode(format!("GET /time answered HTTP {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| Error::Decode(format!("GET /time: {e}")))
    }

    /// Sends one signed `/api/v1` request, once, and returns the answer whatever its status.
    /// For callers that want to see every byte (tests, tools); the typed methods below build on it.
    pub async fn send_v1(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        idempotency_key: Option<&str>,
    ) -> Result<RawResponse, Error> {
        let body = body.unwrap_or_default();
        let timestamp = (self.now_millis() / 1000).to_string();
        let signature = sign::buyshazam::sign(&self.secret.0, method.as_str(), path_and_query, &timestamp, body);
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base_url, path_and_query))
            .header("X-API-Key", &self.api_key)
            .header("X-Timestamp", timestamp)
            .header("X-Signature", format!("sha256={signature}"));
        if !body.is_empty() {
            request = request.header("Content-Type", "application/json").body(body.to_vec());
        }
        if body.len() > UPLOAD_BODY {
            request = request.timeout(UPLOAD_TIMEOUT);
        }
        if let Some(key) = idempotency_key {
            request = request.header("X-Idempotency-Key", key);
        }
        Self::exchange(request).await
    }

    /// Sends one signed `/profile` request, once, and returns the answer whatever its status.
    pub async fn send_profile(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
    ) -> Result<RawResponse, Error> {
        let body = body.unwrap_or_default();
        let millis = self.now_millis();
        let timestamp = format!("{}.{:03}", millis.div_euclid(1000), millis.rem_euclid(1000));
        let signature = sign::profile::sign(&self.secret.0, &timestamp, method.as_str(), path_and_query, body)
            .map_err(|_| Error::Config("the API secret is not base64, so it cannot sign profile requests".into()))?;
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base_url, path_and_query))
            .header("BB-ACCESS-KEY", &self.api_key)
            .header("BB-ACCESS-SIGN", signature)
            .header("BB-ACCESS-TIMESTAMP", timestamp);
        if !body.is_empty() {
            request = request.header("Content-Type", "application/json").body(body.to_vec());
        }
        if body.len() > UPLOAD_BODY {
            request = request.timeout(UPLOAD_TIMEOUT);
        }
        Self::exchange(request).await
    }

    async fn exchange(request: reqwest::RequestBuilder) -> Result<RawResponse, Error> {
        let response = request.send().await.map_err(Error::Network)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(Error::Network)?.to_vec();
        Ok(RawResponse { status, headers, body })
    }

    /// Sends with retries and decodes a success body into `T`.
    ///
    /// Retries: an answer that invites one (see [`ApiFailure::is_retryable`], a profile 429 or
    /// 503) after its `Retry-After`; a network failure with exponential backoff; a clock-skew
    /// refusal once, after measuring the skew; each at most `max_attempts` times in all, and for
    /// [`Resend::NotIfSent`] calls only what cannot have acted. The request is the same every
    /// time, idempotency key included, so a retry never places a second order; a keyed call that
    /// gives up without an outcome says so with its key ([`Error::Unconfirmed`]).
    async fn call<T: DeserializeOwned>(
        &self,
        dialect: Dialect,
        resend: Resend,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        idempotency_key: Option<&str>,
    ) -> Result<(T, RawResponse), Error> {
        // Whether an attempt so far may have acted: sent with no answer, or answered with a
        // refusal that can come after acting. Only then is the outcome unknown.
        let mut may_have_acted = false;
        let unconfirmed = |error: Error, may_have_acted: bool| match idempotency_key {
            Some(key) if may_have_acted => {
                Error::Unconfirmed { idempotency_key: key.to_string(), source: Box::new(error) }
            }
            _ => error,
        };
        let mut attempt = 0;
        let mut clock_synced = false;
        let mut resigned = false;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.max_attempts;
            let sent = match dialect {
                Dialect::V1 => self.send_v1(method.clone(), path_and_query, body, idempotency_key).await,
                Dialect::Profile => self.send_profile(method.clone(), path_and_query, body).await,
            };
            let (wait, reason) = match sent {
                Ok(raw) if (200..300).contains(&raw.status) => {
                    let value = serde_json::from_slice(&raw.body)
                        .map_err(|e| Error::Decode(format!("{path_and_query}: unexpected success body: {e}")))?;
                    return Ok((value, raw));
                }
                Ok(raw) => {
                    let (next, before_acting, error) = match dialect {
                        Dialect::V1 => {
                            let failure = ApiFailure::from_response(&raw);
                            (failure.next(), failure.refused_before_acting(), Error::Api(Box::new(failure)))
                        }
                        Dialect::Profile => {
                            let failure = ProfileFailure::from_response(&raw);
                            (failure.next(), failure.refused_before_acting(), Error::Profile(Box::new(failure)))
                        }
                    };
                    may_have_acted |= matches!(next, Next::RetryAfter(_)) && !before_acting;
                    match next {
                        Next::SyncClock if !clock_synced => {
                            clock_synced = true;
                            // Unmeasurable skew: the server's own answer says more than ours.
                            if self.sync_clock().await.is_err() {
                                return Err(error);
                            }
                            continue;
                        }
                        // The same body signed in the same second is the same signed request,
                        // which places one order; a different order needs a signature of its own.
                        Next::Resign if !resigned => {
                            resigned = true;
                            let into_second = self.now_millis().rem_euclid(1000) as u64;
                            tokio::time::sleep(Duration::from_millis(1000 - into_second + 5)).await;
                            continue;
                        }
                        Next::RetryAfter(wait)
                            if !last && wait <= self.retry.max_wait && (resend == Resend::Safe || before_acting) =>
                        {
                            (wait, error.to_string())
                        }
                        Next::RetryAfter(_) => return Err(unconfirmed(error, may_have_acted)),
                        _ => return Err(error),
                    }
                }
                Err(Error::Network(e))
                    if !last
                        && match resend {
                            Resend::Safe => e.is_connect() || e.is_timeout() || e.is_request(),
                            // A connect failure means nothing was written.
                            Resend::NotIfSent => e.is_connect(),
                        } =>
                {
                    may_have_acted |= !e.is_connect();
                    let reason = format!("network error: {e}");
                    (self.retry.base_backoff * 2u32.saturating_pow(attempt - 1), reason)
                }
                Err(Error::Network(e)) => {
                    let sent = !e.is_connect();
                    return Err(unconfirmed(Error::Network(e), may_have_acted || sent));
                }
                Err(e) => return Err(e),
            };
            let wait = wait.min(self.retry.max_wait);
            tracing::info!(
                "{method} {path_and_query}: {reason}; retrying in {} ms (attempt {} of {})",
                wait.as_millis(),
                attempt + 1,
                self.retry.max_attempts
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn call_v1<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        idempotency_key: Option<&str>,
    ) -> Result<(T, RawResponse), Error> {
        self.call(Dialect::V1, Resend::Safe, method, path_and_query, body, idempotency_key).await
    }

    /// [`Client::call_v1`] for a write that could act twice: sent again only if it cannot have acted.
    async fn call_v1_once<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
    ) -> Result<(T, RawResponse), Error> {
        self.call(Dialect::V1, Resend::NotIfSent, method, path_and_query, body, None).await
    }

    async fn call_profile<T: DeserializeOwned>(
        &self,
        resend: Resend,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<T, Error> {
        let (envelope, _): (Envelope<T>, _) = self.call(Dialect::Profile, resend, method, path, body, None).await?;
        Ok(envelope.response)
    }

    /// `GET /api/v1/balance`
    pub async fn balance(&self) -> Result<BalanceResponse, Error> {
        Ok(self.call_v1(Method::GET, "/api/v1/balance", None, None).await?.0)
    }

    /// `GET /api/v1/services`
    pub async fn services(&self) -> Result<Vec<Service>, Error> {
        let (body, _): (kassa_wire::v1::ServicesResponse, _) =
            self.call_v1(Method::GET, "/api/v1/services", None, None).await?;
        Ok(body.services)
    }

    /// `POST /api/v1/orders`. Without an idempotency key the client makes one, and uses it for
    /// every retry of this call, so a retry can never create a second order. A call that ends
    /// without an outcome is [`Error::Unconfirmed`] with the key to repeat it with.
    pub async fn create_order(
        &self,
        order: &CreateOrderRequest,
        idempotency_key: Option<&str>,
    ) -> Result<PlacedOrder, Error> {
        let key = idempotency_key.map(str::to_string).unwrap_or_else(|| format!("kassa-{}", uuid::Uuid::new_v4()));
        let body = serde_json::to_vec(order).map_err(|e| Error::Decode(e.to_string()))?;
        let (response, raw): (CreateOrderResponse, _) =
            self.call_v1(Method::POST, "/api/v1/orders", Some(&body), Some(&key)).await?;
        Ok(PlacedOrder { order: response.order, replayed: raw.replayed(), idempotency_key: key })
    }

    /// `GET /api/v1/orders/{id}`
    pub async fn order(&self, id: &str) -> Result<Order, Error> {
        check_order_id(id)?;
        let (body, _): (kassa_wire::v1::OrderResponse, _) =
            self.call_v1(Method::GET, &format!("/api/v1/orders/{id}"), None, None).await?;
        Ok(body.order)
    }

    /// `GET /api/v1/orders?page=&limit=&status=`
    pub async fn orders(&self, page: u32, limit: u32, status: Option<&str>) -> Result<OrderListResponse, Error> {
        let mut path = format!("/api/v1/orders?page={page}&limit={limit}");
        if let Some(status) = status {
            if !status.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(Error::Config(format!("{status:?} is not an order status")));
            }
            path.push_str(&format!("&status={status}"));
        }
        Ok(self.call_v1(Method::GET, &path, None, None).await?.0)
    }

    /// `POST /api/v1/orders/{id}/cancel` (a kassa addition). Sent again only if it cannot have
    /// reached the server: a second cancel of an order at a provider asks the provider again.
    pub async fn cancel_order(&self, id: &str) -> Result<CancelResponse, Error> {
        check_order_id(id)?;
        Ok(self.call_v1_once(Method::POST, &format!("/api/v1/orders/{id}/cancel"), None).await?.0)
    }

    /// `POST /api/v1/orders/{id}/refill` (a kassa addition), under `idempotency_key` (one is made
    /// when absent) and the same one with every retry of this call, so a retry (after a timeout,
    /// say) answers the refill already asked for and the provider is asked once. A call that ends
    /// without an outcome is [`Error::Unconfirmed`] with the key to repeat it with.
    pub async fn refill_order(&self, id: &str, idempotency_key: Option<&str>) -> Result<Refill, Error> {
        check_order_id(id)?;
        let key = idempotency_key.map(str::to_string).unwrap_or_else(|| format!("kassa-{}", uuid::Uuid::new_v4()));
        let (body, _): (RefillResponse, _) =
            self.call_v1(Method::POST, &format!("/api/v1/orders/{id}/refill"), None, Some(&key)).await?;
        Ok(body.refill)
    }

    /// `POST /api/v1/webhooks` (a kassa addition). The answer holds the signing secret, once.
    /// Sent again only if it cannot have reached the server: a second registration would be a
    /// second endpoint, delivered to as well.
    pub async fn create_webhook(&self, url: &str) -> Result<Webhook, Error> {
        let body = serde_json::to_vec(&CreateWebhookRequest { url: url.to_string() })
            .map_err(|e| Error::Decode(e.to_string()))?;
        let (response, _): (WebhookResponse, _) =
            self.call_v1_once(Method::POST, "/api/v1/webhooks", Some(&body)).await?;
        Ok(response.webhook)
    }

    /// `GET /api/v1/webhooks` (a kassa addition).
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, Error> {
        let (response, _): (WebhookListResponse, _) = self.call_v1(Method::GET, "/api/v1/webhooks", None, None).await?;
        Ok(response.webhooks)
    }

    /// `DELETE /api/v1/webhooks/{id}` (a kassa addition).
    pub async fn delete_webhook(&self, id: i64) -> Result<(), Error> {
        let _: (Ack, _) = self.call_v1(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None, None).await?;
        Ok(())
    }

    /// `GET /profile/me`
    pub async fn profile_me(&self) -> Result<Profile, Error> {
        self.call_profile(Resend::Safe, Method::GET, "/profile/me", None).await
    }

    /// `PUT /profile/edit`: changes the fields that are `Some`, answers the profile as it now is.
    pub async fn edit_profile(&self, edit: &ProfileEdit) -> Result<Profile, Error> {
        let body = serde_json::to_vec(edit).map_err(|e| Error::Decode(e.to_string()))?;
        self.call_profile(Resend::Safe, Method::PUT, "/profile/edit", Some(&body)).await
    }

    /// `POST /profile/verify`. Build the request with [`VerifyRequest::new`] and
    /// [`VerifyRequest::with_document`], which encodes a document's bytes. Sent again only if it
    /// cannot have reached the server: after a lost answer a resend is refused as "already in
    /// process" when the first was filed, which would read as a failure.
    pub async fn verify_profile(&self, request: &VerifyRequest) -> Result<Verification, Error> {
        let body = serde_json::to_vec(request).map_err(|e| Error::Decode(e.to_string()))?;
        self.call_profile(Resend::NotIfSent, Method::POST, "/profile/verify", Some(&body)).await
    }
}

/// Which signing scheme and error envelope a call uses.
#[derive(Debug, Clone, Copy)]
enum Dialect {
    V1,
    Profile,
}

fn check_order_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Error::Config(format!("{id:?} is not an order id")));
    }
    Ok(())
}
