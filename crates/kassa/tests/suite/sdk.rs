//! The SDK against a real server: every endpoint through its typed method, typed errors with
//! their wire code and extra fields, and every retry it promises (a locked wallet, a rate
//! limit, a refused connection, a skewed clock) with the same idempotency key.

use std::time::{Duration, Instant};

use kassa_client::{Client, CreateOrderRequest, Error, ProfileEdit, RetryPolicy, VerifyRequest};
use kassa_core::catalog::ServiceKind;
use kassa_core::OrderStatus;
use kassa_store::{ServicePatch, StatusChange};

use crate::support::{Backend, KeyOptions, TestServer};

crate::backend_tests!(
    every_endpoint_through_its_typed_method,
    errors_carry_their_code_and_fields,
    a_locked_wallet_is_retried_with_the_same_key,
    a_rate_limit_is_waited_out,
    a_refused_connection_is_retried_and_places_one_order,
    a_skewed_clock_is_measured_and_corrected,
    lost_answers_resend_only_what_cannot_act_twice,
);

fn order(service_id: i64, quantity: u64) -> CreateOrderRequest {
    CreateOrderRequest {
        service_id,
        quantity,
        link: "https://example.com/post/1".into(),
        client_order_ref: None,
        custom_comments: None,
    }
}

/// A PNG's first bytes, enough to be typed as one.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

async fn every_endpoint_through_its_typed_method(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "0.45", 10, 10_000).await;
    let manual = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    server
        .store
        .update_service(
            manual.id,
            ServicePatch { cancel_allowed: Some(true), refill_allowed: Some(true), ..Default::default() },
        )
        .await
        .unwrap();
    let account = server.customer("10.00").await;
    let client = account.client();

    let balance = client.balance().await.unwrap();
    assert_eq!((balance.balance.to_string().as_str(), balance.currency.as_str()), ("10.00", "USD"));
    assert_eq!(balance.woo_customer_id, account.customer.0);
    let services = client.services().await.unwrap();
    assert!(services.iter().any(|s| s.id == service.id && s.price_per_1000.to_string() == "0.45"));

    // A key of the caller's, then one the client makes; a replay says so.
    let placed = client.create_order(&order(service.id, 1000), Some("sdk-key-1")).await.unwrap();
    assert_eq!((placed.order.status.as_str(), placed.order.charge.to_string().as_str()), ("pending", "0.45"));
    assert!(!placed.replayed);
    let again = client.create_order(&order(service.id, 1000), Some("sdk-key-1")).await.unwrap();
    assert!(again.replayed && again.order == placed.order);
    let generated = client.create_order(&order(manual.id, 100), None).await.unwrap();
    assert!(generated.idempotency_key.starts_with("kassa-") && generated.order.id != placed.order.id);

    let read = client.order(&placed.order.id).await.unwrap();
    assert_eq!((read.id.as_str(), read.quantity, read.smm_status.as_deref()), (placed.order.id.as_str(), 1000, None));
    let page = client.orders(1, 1, None).await.unwrap();
    assert_eq!((page.total, page.orders.len(), page.orders[0].id.as_str()), (2, 1, generated.order.id.as_str()));
    assert_eq!(client.orders(1, 50, Some("completed")).await.unwrap().total, 0);

    // The kassa additions: cancel, refill, webhooks.
    let canceled = client.cancel_order(&generated.order.id).await.unwrap();
    assert_eq!((canceled.cancel.as_str(), canceled.order.status.as_str()), ("canceled", "canceled"));
    let done = client.create_order(&order(manual.id, 10), None).await.unwrap();
    let id = done.order.id.parse().unwrap();
    server
        .store
        .change_order(&id, StatusChange { status: Some(OrderStatus::Completed), ..Default::default() })
        .await
        .unwrap();
    let refill = client.refill_order(&done.order.id, None).await.unwrap();
    assert_eq!((refill.order_id.as_str(), refill.status.as_str()), (done.order.id.as_str(), "pending"));
    let hook = client.create_webhook("https://hooks.example.com/kassa").await.unwrap();
    assert!(hook.secret.as_deref().is_some_and(|s| s.starts_with("whsec_")));
    let hooks = client.webhooks().await.unwrap();
    assert_eq!((hooks.len(), hooks[0].secret.as_ref()), (1, None), "the secret is shown once");
    client.delete_webhook(hook.id).await.unwrap();
    assert!(client.webhooks().await.unwrap().is_empty());

    // The profile dialect, with the same key and secret.
    let me = client.profile_me().await.unwrap();
    assert_eq!((me.id, me.verified.as_str()), (account.customer.0.to_string(), "0"));
    let edited = client
        .edit_profile(&ProfileEdit { city: Some("Kyiv".into()), bio: Some("hi".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((edited.city.as_deref(), edited.bio.as_deref(), edited.email), (Some("Kyiv"), Some("hi"), me.email));
    let verification = client
        .verify_profile(
            &VerifyRequest::new("passport", "Ada", 2, "AB123456").with_document(1, PNG).with_document(2, PNG),
        )
        .await
        .unwrap();
    assert_eq!(
        (verification.status.as_str(), verification.document1.as_deref(), verification.document2.as_deref()),
        ("in_process", Some("png"), Some("png"))
    );
    let time = client.server_time().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((time.epoch - now).abs() < 5.0 && time.iso.ends_with('Z'));
    assert!(client.sync_clock().await.unwrap() < Duration::from_secs(5));
}

async fn errors_carry_their_code_and_fields(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 10, 10_000).await;
    let account = server.customer("0.50").await;
    let client = account.client();

    let error = client.create_order(&order(service.id, 1000), None).await.unwrap_err();
    let failure = error.api().expect("an API answer");
    let body = failure.body.as_ref().unwrap();
    assert_eq!((failure.status, failure.code.as_str()), (402, "insufficient_wallet_balance"));
    assert_eq!(
        (body.balance.map(|a| a.to_string()), body.required.map(|a| a.to_string()), body.currency.as_deref()),
        (Some("0.50".into()), Some("1.00".into()), Some("USD"))
    );
    assert!(failure.request_id.is_some() && failure.hint().is_some());

    let error = client.create_order(&order(service.id, 5), None).await.unwrap_err();
    assert_eq!(
        (error.code(), error.api().unwrap().body.as_ref().unwrap().min),
        (Some("quantity_below_minimum"), Some(10))
    );
    let error = client.create_order(&order(service.id, 50_000), None).await.unwrap_err();
    assert_eq!(
        (error.code(), error.api().unwrap().body.as_ref().unwrap().max),
        (Some("quantity_above_maximum"), Some(10_000))
    );
    assert_eq!(client.order("BSAPI-AAAAAAAAAAAA").await.unwrap_err().code(), Some("order_not_found"));
    assert!(matches!(client.order("../balance").await, Err(Error::Config(_))), "ids are checked before sending");

    let stranger =
        Client::with_retry(&server.base_url, "bs_live_nobody", &account.secret, RetryPolicy::none()).unwrap();
    assert_eq!(stranger.balance().await.unwrap_err().code(), Some("invalid_api_key"));
    // The profile dialect's errors keep its messages word for word.
    let error = stranger.profile_me().await.unwrap_err();
    let failure = error.profile().expect("a profile answer");
    assert_eq!((failure.status, failure.errors.as_slice()), (401, &["Invalid Api Key".to_string()][..]));
    let bad = client.verify_profile(&VerifyRequest::new("visa", "Ada", 3, "X")).await.unwrap_err();
    let errors = &bad.profile().unwrap().errors;
    assert!(errors.contains(&"verify_type should have one of following value: passport, driving_license, nid.".into()));
    assert!(errors.contains(&"gender should have one of following value: 1, 2.".into()));
}

async fn a_locked_wallet_is_retried_with_the_same_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;

    // Another request with this key is "in flight" for 1.5 s.
    let guard = server.state.inflight.enter(account.customer, "held-key").expect("free");
    let error = account.client().create_order(&order(service.id, 1000), Some("held-key")).await.unwrap_err();
    let failure = error.api().unwrap();
    assert_eq!((failure.code.as_str(), failure.retry_after), ("customer_wallet_locked", Some(Duration::from_secs(1))));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        drop(guard);
    });
    let started = Instant::now();
    let placed = account.retrying_client().create_order(&order(service.id, 1000), Some("held-key")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited for Retry-After");
    assert_eq!(placed.idempotency_key, "held-key");
    let placed_again =
        account.retrying_client().create_order(&order(service.id, 1000), Some("held-key")).await.unwrap();
    assert!(placed_again.replayed && placed_again.order.id == placed.order.id);
    assert_eq!(account.client().orders(1, 50, None).await.unwrap().total, 1, "one order, one debit");
    assert_eq!(account.client().balance().await.unwrap().balance.to_string(), "9.00");
}

async fn a_rate_limit_is_waited_out(backend: Backend) {
    let server = TestServer::start(backend).await;
    // 120 a minute: a burst of 120, then one more every half second.
    let account = server.customer_with("1.00", KeyOptions { rate_limit_per_minute: 120, ..Default::default() }).await;
    let client = account.client();
    let mut limited = None;
    for _ in 0..130 {
        if let Err(error) = client.balance().await {
            limited = Some(error);
            break;
        }
    }
    let failure = limited.expect("the limit is reached within 130 requests");
    let failure = failure.api().unwrap();
    assert_eq!((failure.code.as_str(), failure.retry_after), ("rate_limited", Some(Duration::from_secs(1))));
    let started = Instant::now();
    account.retrying_client().balance().await.expect("the retrying client waits the limit out");
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited for Retry-After");
    // The profile dialect shares the key's limit, and its 429 is retried as well.
    let _ = client.balance().await;
    account.retrying_client().profile_me().await.expect("retried after the profile 429");
}

async fn a_refused_connection_is_retried_and_places_one_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    // A port nobody listens on yet; in 600 ms a relay to the server opens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let upstream = server.addr;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port is still free");
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let policy =
        RetryPolicy { max_attempts: 8, max_wait: Duration::from_secs(2), base_backoff: Duration::from_millis(100) };
    let client =
        Client::with_retry(&format!("http://127.0.0.1:{port}"), &account.key.api_key, &account.secret, policy).unwrap();
    let started = Instant::now();
    let placed = client.create_order(&order(service.id, 1000), None).await.expect("placed once the port opens");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(!placed.replayed);
    assert_eq!(account.client().orders(1, 50, None).await.unwrap().total, 1);
    assert_eq!(account.client().balance().await.unwrap().balance.to_string(), "9.00");

    // No server at all: the retries end, with the network error.
    let gone = Client::with_retry(
        "http://127.0.0.1:9",
        &account.key.api_key,
        &account.secret,
        RetryPolicy { max_attempts: 3, max_wait: Duration::from_millis(50), base_backoff: Duration::from_millis(10) },
    )
    .unwrap();
    assert!(matches!(gone.balance().await, Err(Error::Network(_))));
}

/// A relay to `upstream` that passes each request on and loses every answer: it waits for the
/// server's first bytes, then cuts the client's connection. Counts the connections it took.
async fn answer_losing_relay(
    upstream: std::net::SocketAddr,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let taken = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = taken.clone();
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let mut buffer = vec![0u8; 64 * 1024];
                let n = inbound.read(&mut buffer).await.unwrap_or(0);
                outbound.write_all(&buffer[..n]).await.unwrap();
                // The server answered, so it acted; the client never hears of it.
                let _ = outbound.read(&mut buffer).await;
                drop(inbound);
            });
        }
    });
    (url, taken)
}

/// When answers are lost, an order is sent again under its key and placed once, and the error
/// names the key; a cancel and a webhook registration, which could act twice, are sent once. A
/// `Retry-After` longer than the policy's longest wait ends the call rather than retrying early.
async fn lost_answers_resend_only_what_cannot_act_twice(backend: Backend) {
    use std::sync::atomic::Ordering;
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let (url, taken) = answer_losing_relay(server.addr).await;
    let policy =
        RetryPolicy { max_attempts: 3, max_wait: Duration::from_millis(50), base_backoff: Duration::from_millis(10) };
    let lossy = Client::with_retry(&url, &account.key.api_key, &account.secret, policy.clone()).unwrap();

    let lost = lossy.create_order(&order(service.id, 1000), None).await.unwrap_err();
    let key = lost.idempotency_key().expect("the error names the key to repeat the order with").to_string();
    assert!(matches!(lost.inner(), Error::Network(_)), "{lost:?}");
    assert_eq!(taken.swap(0, Ordering::SeqCst), 3, "an order is sent again under its key");
    let repeated = account.client().create_order(&order(service.id, 1000), Some(&key)).await.unwrap();
    assert!(repeated.replayed, "the order was placed by the first attempt");
    assert_eq!(account.client().orders(1, 50, None).await.unwrap().total, 1, "and only once");

    let canceled = lossy.cancel_order(&repeated.order.id).await.unwrap_err();
    assert!(matches!(canceled, Error::Network(_)), "{canceled:?}");
    assert_eq!(taken.swap(0, Ordering::SeqCst), 1, "a cancel is not sent again after it may have acted");
    let hook = lossy.create_webhook("https://hooks.example.com/kassa").await.unwrap_err();
    assert!(matches!(hook, Error::Network(_)), "{hook:?}");
    assert_eq!(taken.swap(0, Ordering::SeqCst), 1, "nor is a webhook registration");
    assert_eq!(account.client().webhooks().await.unwrap().len(), 1);

    // Rate limited with a Retry-After of a second or more, and a policy that waits 50 ms at most.
    let limited = server.customer_with("1.00", KeyOptions { rate_limit_per_minute: 60, ..Default::default() }).await;
    let impatient = Client::with_retry(&server.base_url, &limited.key.api_key, &limited.secret, policy).unwrap();
    let refused = loop {
        if let Err(error) = impatient.balance().await {
            break error;
        }
    };
    let started = Instant::now();
    let again = impatient.create_order(&order(service.id, 10), None).await.unwrap_err();
    assert_eq!((refused.code(), again.code()), (Some("rate_limited"), Some("rate_limited")));
    assert!(started.elapsed() < Duration::from_millis(500), "gave up at once: {:?}", started.elapsed());
    assert_eq!(again.idempotency_key(), None, "refused before acting: not an unknown outcome");
}

async fn a_skewed_clock_is_measured_and_corrected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("1.00").await;

    // Ten minutes behind: outside the 5-minute window of /api/v1.
    let client = account.retrying_client();
    client.set_clock_offset_ms(-600_000);
    client.balance().await.expect("the client measures its skew with GET /time and signs again");
    let plain = account.client();
    plain.set_clock_offset_ms(-600_000);
    assert_eq!(plain.balance().await.unwrap().balance.to_string(), "1.00", "one clock sync is not a retry");

    // A minute ahead: outside the profile API's 30 seconds.
    let client = account.client();
    client.set_clock_offset_ms(60_000);
    client.profile_me().await.expect("corrected for the profile API too");
    let error = {
        let stale = account.client();
        stale.set_clock_offset_ms(60_000);
        stale.send_profile(kassa_client::Method::GET, "/profile/me", None).await.unwrap()
    };
    assert_eq!(error.status, 401, "uncorrected, the server refuses it");
}
