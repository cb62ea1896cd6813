//! Webhooks: registration through the API, deliveries signed per Standard Webhooks (checked here
//! with an independent implementation), retried on a schedule that ends, and replayable.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use kassa_core::OrderStatus;
use kassa_store::{DeliveryAttempt, DeliveryFilter, DeliveryState, StatusChange};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::fulfilment::{eventually, quick_webhooks};
use crate::support::receiver::{Received, Receiver};
use crate::support::{assert_error, Account, Backend, ServerOptions, TestServer};

crate::backend_tests!(
    webhooks_are_registered_through_the_api,
    deliveries_are_signed_retried_and_stop,
    private_receivers_are_refused_by_default,
    an_attempt_that_outlasted_its_claim_is_not_recorded,
    a_receiver_that_never_answers_holds_up_no_other,
);

/// Standard Webhooks verification, written from the specification, not from kassa's code.
fn verify(secret: &str, received: &Received) -> bool {
    let header = |name: &str| received.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (id, timestamp, signatures) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let key = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let fresh = (timestamp.parse::<i64>().unwrap() - crate::support::raw::now()).abs() < 60;
    fresh && id.starts_with("msg_") && signatures.split(' ').any(|s| s == format!("v1,{expected}"))
}

/// Places an order and cancels it: one status change, one event per endpoint.
async fn cancel_a_new_order(server: &TestServer, account: &Account, service_id: i64) -> kassa_core::OrderId {
    let id: kassa_core::OrderId = account.place(service_id, 1000).await.order.id.parse().unwrap();
    let change = StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() };
    server.store.change_order(&id, change).await.unwrap();
    id
}

async fn register(account: &Account, url: &str) -> Value {
    let response = account.signer().post("/api/v1/webhooks", &json!({"url": url})).send().await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    response.json().unwrap()["webhook"].clone()
}

fn private_allowed() -> ServerOptions {
    let mut options = ServerOptions::default();
    options.config.webhook_allow_private = true;
    options
}

async fn webhooks_are_registered_through_the_api(backend: Backend) {
    let server = TestServer::start_with(backend, private_allowed()).await;
    let account = server.customer("0").await;
    let other = server.customer("0").await;
    let created = register(&account, "http://127.0.0.1:9/hook").await;
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let listed = account.signer().get("/api/v1/webhooks").send().await.json().unwrap();
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
    assert!(listed["webhooks"][0].get("secret").is_none(), "the secret is shown once");
    let id = created["id"].as_i64().unwrap();
    assert_error(
        &other.signer().request("DELETE", &format!("/api/v1/webhooks/{id}")).send().await,
        404,
        "webhook_not_found",
    );
    assert_eq!(account.signer().request("DELETE", &format!("/api/v1/webhooks/{id}")).send().await.status, 200);
    assert_error(
        &account.signer().request("DELETE", &format!("/api/v1/webhooks/{id}")).send().await,
        404,
        "webhook_not_found",
    );
    assert_error(
        &account.signer().post("/api/v1/webhooks", &json!({"url": "ftp://x"})).send().await,
        400,
        "invalid_webhook_url",
    );
    assert_error(&account.signer().post("/api/v1/webhooks", &json!({"nope": 1})).send().await, 400, "invalid_json");
    for _ in 0..10 {
        register(&account, "http://127.0.0.1:9/hook").await;
    }
    assert_error(
        &account.signer().post("/api/v1/webhooks", &json!({"url": "http://127.0.0.1:9/x"})).send().await,
        409,
        "too_many_webhooks",
    );
}

async fn deliveries_are_signed_retried_and_stop(backend: Backend) {
    let server = TestServer::start_with(backend, private_allowed()).await;
    let account = server.customer("10.00").await;
    let service = server.service(kassa_core::catalog::ServiceKind::Default, "1.00", 1, 100_000).await;
    // The first receiver fails twice, then takes it; the second always fails.
    let flaky = Receiver::start(&[500, 503], 200).await;
    let dead = Receiver::start(&[], 500).await;
    let flaky_secret = register(&account, &flaky.url).await["secret"].as_str().unwrap().to_string();
    register(&account, &dead.url).await;
    let dispatcher = server.webhook_dispatcher(quick_webhooks(&[0, 100, 100, 100]));

    let id = cancel_a_new_order(&server, &account, service.id).await;

    let received = eventually(Duration::from_secs(10), "three attempts at the flaky receiver", || async {
        let got = flaky.received();
        (got.len() >= 3).then_some(got)
    })
    .await;
    assert!(received.iter().all(|r| verify(&flaky_secret, r)), "every attempt is signed");
    let ids: std::collections::HashSet<_> = received.iter().map(|r| r.headers["webhook-id"].clone()).collect();
    assert_eq!(ids.len(), 1, "retries keep the message id");
    let event: Value = serde_json::from_slice(&received[2].body).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["data"]["order"]["status"].as_str(), event["data"]["previous_status"].as_str()),
        (Some("order.status_changed"), Some("canceled"), Some("pending"))
    );
    assert_eq!(event["data"]["order"]["id"].as_str(), Some(id.as_str()));
    let forged = Received { headers: received[0].headers.clone(), body: b"{}".to_vec().into() };
    assert!(!verify(&flaky_secret, &forged), "the independent check can fail");

    // The dead receiver gets the whole schedule (4 attempts), then nothing more.
    eventually(Duration::from_secs(10), "the dead endpoint's delivery to fail for good", || async {
        let failed = server
            .store
            .deliveries(DeliveryFilter { state: Some(DeliveryState::Failed), limit: 10, ..Default::default() })
            .await
            .unwrap();
        (!failed.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(dead.received().len(), 4, "attempts stop at the schedule's end");
    assert_eq!(flaky.received().len(), 3, "a delivered message is not sent again");
    let log = server.store.deliveries(DeliveryFilter { limit: 10, ..Default::default() }).await.unwrap();
    let states: Vec<_> = log.iter().map(|d| (d.state, d.attempts, d.last_status)).collect();
    assert!(states.contains(&(DeliveryState::Delivered, 3, Some(200))), "{states:?}");
    assert!(states.contains(&(DeliveryState::Failed, 4, Some(500))), "{states:?}");

    // The operator replays the failed one: it is sent again.
    let failed = log.iter().find(|d| d.state == DeliveryState::Failed).unwrap();
    server.store.replay_delivery(failed.id).await.unwrap();
    eventually(Duration::from_secs(5), "the replay", || async { (dead.received().len() >= 5).then_some(()) }).await;
    dispatcher.stop().await;
}

/// A receiver that takes the connection and never answers costs each of its attempts the whole
/// timeout; meanwhile the other endpoints' deliveries go out as usual.
async fn a_receiver_that_never_answers_holds_up_no_other(backend: Backend) {
    let server = TestServer::start_with(backend, private_allowed()).await;
    let account = server.customer("10.00").await;
    let service = server.service(kassa_core::catalog::ServiceKind::Default, "1.00", 1, 100_000).await;
    // The kernel completes its handshakes; nothing ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    register(&account, &format!("http://{}/hook", silent.local_addr().unwrap())).await;
    let receiver = Receiver::start(&[], 200).await;
    register(&account, &receiver.url).await;
    let config =
        kassa_server::webhooks::WebhookConfig { timeout: Duration::from_secs(4), ..quick_webhooks(&[0, 60_000]) };
    let dispatcher = server.webhook_dispatcher(config);

    for n in 1..=3 {
        let changed = std::time::Instant::now();
        cancel_a_new_order(&server, &account, service.id).await;
        eventually(Duration::from_secs(20), "the answering receiver's delivery", || async {
            (receiver.received().len() >= n).then_some(())
        })
        .await;
        let took = changed.elapsed();
        assert!(took < Duration::from_secs(2), "event {n} reached the answering receiver after {took:?}");
    }
    dispatcher.stop().await;
}

async fn private_receivers_are_refused_by_default(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.5/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/x",
    ] {
        let response = account.signer().post("/api/v1/webhooks", &json!({"url": url})).send().await;
        let error = assert_error(&response, 400, "invalid_webhook_url");
        assert!(error["details"]["url"].is_string(), "{error}");
    }
}

/// A worker whose attempt outlasts its lease must not undo what the attempt that took the
/// delivery over recorded (a delivered message turned back into a pending one is sent again), nor
/// an operator's replay.
async fn an_attempt_that_outlasted_its_claim_is_not_recorded(backend: Backend) {
    let server = TestServer::start_with(backend, private_allowed()).await;
    let account = server.customer("10.00").await;
    let service = server.service(kassa_core::catalog::ServiceKind::Default, "1.00", 1, 100_000).await;
    register(&account, "http://127.0.0.1:9/hook").await;
    let placed = account
        .signer()
        .order(&json!({"service_id": service.id, "quantity": 1000, "link": "https://x"}), "k-outlasted")
        .send()
        .await;
    assert_eq!(placed.status, 201, "{}", String::from_utf8_lossy(&placed.body));
    let id: kassa_core::OrderId = placed.json().unwrap()["order"]["id"].as_str().unwrap().parse().unwrap();
    server
        .store
        .change_order(&id, StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() })
        .await
        .unwrap();

    let failed =
        DeliveryAttempt { status: Some(500), error: Some("HTTP 500".into()), delivered: false, retry_at: Some(0) };
    let delivered = DeliveryAttempt { status: Some(200), error: None, delivered: true, retry_at: None };
    // The first claim's lease runs out at once; a second worker takes the delivery and delivers it.
    let stale = server.store.claim_deliveries(10, Duration::ZERO).await.unwrap();
    assert_eq!(stale.len(), 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let current = server.store.claim_deliveries(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(current.len(), 1, "a delivery whose lease ran out is claimed again");
    assert_eq!(current[0].delivery.id, stale[0].delivery.id);
    assert!(server.store.claim_deliveries(10, Duration::from_secs(60)).await.unwrap().is_empty(), "leased");
    let id = current[0].delivery.id;
    let recorded = server.store.record_delivery(id, current[0].claimed_until, delivered.clone()).await.unwrap();
    assert_eq!(recorded.map(|d| (d.state, d.attempts)), Some((DeliveryState::Delivered, 1)));
    let late = server.store.record_delivery(id, stale[0].claimed_until, failed.clone()).await.unwrap();
    assert!(late.is_none(), "the late failure is not recorded: {late:?}");
    let log = server.store.deliveries(DeliveryFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(
        log.iter().map(|d| (d.state, d.attempts, d.last_status)).collect::<Vec<_>>(),
        [(DeliveryState::Delivered, 1, Some(200))],
        "the delivered message stays delivered, so it is not sent again"
    );
    assert!(server.store.claim_deliveries(10, Duration::from_secs(60)).await.unwrap().is_empty());

    // An operator's replay is not undone by an attempt that was running when it was asked for.
    server.store.replay_delivery(id).await.unwrap();
    let running = server.store.claim_deliveries(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(running.len(), 1);
    server.store.replay_delivery(id).await.unwrap();
    let late = server.store.record_delivery(id, running[0].claimed_until, delivered).await.unwrap();
    assert!(late.is_none(), "the attempt under the claim before the replay is not recorded: {late:?}");
    let again = server.store.claim_deliveries(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.iter().map(|j| (j.delivery.id, j.delivery.attempts)).collect::<Vec<_>>(), [(id, 0)]);
}
