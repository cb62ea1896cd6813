//! Order creation, reading and listing: every error code, idempotency, rounding and refunds.

use std::time::Duration;

use kassa_core::catalog::ServiceKind;
use kassa_core::{OrderStatus, Price};
use kassa_store::{ServicePatch, StatusChange};
use serde_json::json;

use crate::backend_tests;
use crate::support::{assert_error, Backend, KeyOptions, ServerOptions, StoreOptions, TestServer};

backend_tests!(
    an_order_is_charged_and_reads_back_with_the_seed_fields,
    the_same_key_replays_and_a_different_body_conflicts,
    a_replay_is_answered_though_a_new_order_would_be_refused,
    client_order_ref_is_unique_per_customer,
    malformed_requests_get_their_codes,
    service_rules_get_their_codes,
    insufficient_balance_reports_balance_required_and_currency,
    custom_comment_services_count_lines,
    orders_of_others_are_not_found,
    charges_round_up_and_keep_their_price,
    listing_pages_filters_and_bounds,
    a_key_in_flight_answers_wallet_locked,
    a_locked_database_answers_503_and_recovers,
    refunds_are_paid_once_from_the_order_price,
    a_service_changed_by_another_process_is_seen_at_once,
    list_totals_are_kept_counts_and_the_books_check_them,
    the_books_find_refunds_paid_to_another_customer_or_to_no_order,
    the_books_find_order_entries_under_another_reference,
    unit_counts_no_column_holds_are_refused_and_the_order_stays_readable,
    operator_refunds_are_decided_on_where_the_provider_stands_now,
    a_reused_reference_or_signature_answers_the_same_on_both_stores,
);

fn order_body(service: i64, quantity: u64) -> serde_json::Value {
    json!({"service_id": service, "quantity": quantity, "link": "https://www.tiktok.com/@username/video/123"})
}

fn text(response: &kassa_client::RawResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

async fn an_order_is_charged_and_reads_back_with_the_seed_fields(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "0.45", 10, 10_000).await;
    let account = server.customer("10.00").await;
    let signer = account.signer();
    let mut body = order_body(service.id, 1000);
    body["client_order_ref"] = json!("your-order-10001");
    let created = signer.order(&body, "order-1").send().await;
    assert_eq!(created.status, 201, "{}", text(&created));
    assert!(created.header("idempotent-replayed").is_none());
    assert!(text(&created).contains(r#""charge":0.45"#), "money is an exact JSON number: {}", text(&created));
    let order = &created.json().unwrap()["order"];
    let id = order["id"].as_str().unwrap().to_string();
    assert!(id.parse::<kassa_core::OrderId>().is_ok(), "{id} looks like BSAPI-ABC123DEF456");
    assert_eq!(order["status"], "pending");
    assert!(order["woo_order_number"].as_i64().unwrap() >= 1);
    assert_eq!(order["currency"], "USD");

    let fetched = signer.get(&format!("/api/v1/orders/{id}")).send().await;
    assert_eq!(fetched.status, 200);
    let fetched = fetched.json().unwrap();
    assert_eq!(fetched["success"], true);
    let o = &fetched["order"];
    assert_eq!(
        (o["id"].as_str(), o["status"].as_str(), o["smm_status"].clone()),
        (Some(id.as_str()), Some("pending"), json!(null))
    );
    assert_eq!(o["charge"], json!(0.45));
    assert_eq!(o["currency"], "USD");
    assert_eq!(o["client_order_ref"], "your-order-10001");

    let balance = account.client().balance().await.unwrap();
    assert_eq!(balance.balance.to_string(), "9.55");
    let books = server.store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");
}

async fn the_same_key_replays_and_a_different_body_conflicts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let signer = account.signer();
    let first = signer.order(&order_body(service.id, 1000), "same-key").send().await;
    assert_eq!(first.status, 201);
    // The same order re-serialized with other spacing and key order is the same request.
    let respaced = format!(
        "{{ \"link\" : \"https://www.tiktok.com/@username/video/123\", \"quantity\": 1000, \"service_id\": {} }}",
        service.id
    );
    let replay = signer
        .request("POST", "/api/v1/orders")
        .body(respaced.into_bytes())
        .header("X-Idempotency-Key", "same-key")
        .send()
        .await;
    assert_eq!(replay.status, 201, "{}", text(&replay));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body, first.body, "the replay is the original body, byte for byte");

    // Even after the order moved on, the replay shows the original answer.
    let id: kassa_core::OrderId = first.json().unwrap()["order"]["id"].as_str().unwrap().parse().unwrap();
    server
        .store
        .change_order(&id, StatusChange { status: Some(OrderStatus::Completed), ..Default::default() })
        .await
        .unwrap();
    let later = signer.order(&order_body(service.id, 1000), "same-key").send().await;
    assert_eq!(later.body, first.body);

    let conflict = signer.order(&order_body(service.id, 999), "same-key").send().await;
    assert_error(&conflict, 409, "duplicate_order");
    // Another body is another body even when it is no valid order; under a fresh key it is 400.
    let invalid = serde_json::json!({"service_id": service.id, "quantity": 1000});
    assert_error(&signer.order(&invalid, "same-key").send().await, 409, "duplicate_order");
    assert_error(&signer.order(&invalid, "fresh-key").send().await, 400, "missing_link");
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 900, "charged once");

    // Keys are per customer: another customer may use the same key.
    let other = server.customer("10.00").await;
    assert_eq!(other.signer().order(&order_body(service.id, 1000), "same-key").send().await.status, 201);
}

/// The earlier order's answer comes before every rule a new order must pass: a retry is answered
/// with the order it placed even when the wallet it emptied, or a service since switched off,
/// would refuse the same request made afresh. (The SQLite store places an order first and checks
/// for an earlier one only when that fails: this is the answer it must still give.)
async fn a_replay_is_answered_though_a_new_order_would_be_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("1.00").await;
    let signer = account.signer();
    let first = signer.order(&order_body(service.id, 1000), "only-key").send().await;
    assert_eq!(first.status, 201, "{}", text(&first));
    assert_error(
        &signer.order(&order_body(service.id, 1001), "fresh-key").send().await,
        402,
        "insufficient_wallet_balance",
    );

    let replay = signer.order(&order_body(service.id, 1000), "only-key").send().await;
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (201, Some("true")), "{}", text(&replay));
    assert_eq!(replay.body, first.body);

    server.store.update_service(service.id, ServicePatch { active: Some(false), ..Default::default() }).await.unwrap();
    let replay = signer.order(&order_body(service.id, 1000), "only-key").send().await;
    assert_eq!((replay.status, replay.header("idempotent-replayed")), (201, Some("true")), "{}", text(&replay));
    assert_eq!(replay.body, first.body);
    let changed = signer.order(&order_body(service.id, 999), "only-key").send().await;
    assert_error(&changed, 409, "duplicate_order");

    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 0, "charged once");
    let books = server.store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");
}

async fn client_order_ref_is_unique_per_customer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let mut body = order_body(service.id, 100);
    body["client_order_ref"] = json!("ref-1");
    assert_eq!(account.signer().order(&body, "k1").send().await.status, 201);
    let again = account.signer().order(&body, "k2").send().await;
    let error = assert_error(&again, 409, "duplicate_order");
    assert_eq!(error["details"]["client_order_ref"], "already used");
    let other = server.customer("10.00").await;
    assert_eq!(other.signer().order(&body, "k1").send().await.status, 201);
}

async fn malformed_requests_get_their_codes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let signer = account.signer();
    let good = order_body(service.id, 100);

    assert_error(&signer.post("/api/v1/orders", &good).send().await, 400, "missing_idempotency_key");
    assert_error(&signer.order(&good, &"k".repeat(256)).send().await, 400, "invalid_idempotency_key");
    assert_error(&signer.order(&good, "k1").content_type(Some("text/plain")).send().await, 400, "invalid_content_type");
    assert_error(&signer.order(&good, "k1").content_type(None).send().await, 400, "invalid_content_type");
    let not_json = signer
        .request("POST", "/api/v1/orders")
        .body(b"{not json".to_vec())
        .header("X-Idempotency-Key", "k1")
        .send()
        .await;
    assert_error(&not_json, 400, "invalid_json");
    assert_error(&signer.order(&json!([1, 2]), "k1").send().await, 400, "invalid_json");

    for bad in [
        json!({"quantity": 100, "link": "x"}),
        json!({"service_id": "abc", "quantity": 100, "link": "x"}),
        json!({"service_id": service.id, "link": "x"}),
        json!({"service_id": service.id, "quantity": 0, "link": "x"}),
        json!({"service_id": service.id, "quantity": -5, "link": "x"}),
        json!({"service_id": service.id, "quantity": 1.5, "link": "x"}),
    ] {
        let response = signer.order(&bad, "k1").send().await;
        let error = assert_error(&response, 400, "invalid_service_or_quantity");
        assert!(error["details"].is_object(), "details name the field: {error}");
    }
    assert_error(
        &signer.order(&json!({"service_id": service.id, "quantity": 100}), "k1").send().await,
        400,
        "missing_link",
    );
    assert_error(
        &signer.order(&json!({"service_id": service.id, "quantity": 100, "link": ""}), "k1").send().await,
        400,
        "missing_link",
    );
    let long = json!({"service_id": service.id, "quantity": 100, "link": format!("https://x/{}", "a".repeat(3000))});
    assert_error(&signer.order(&long, "k1").send().await, 400, "invalid_link");
    let huge = json!({"service_id": service.id, "quantity": 100, "link": "x", "pad": "a".repeat(100_000)});
    assert_error(&signer.order(&huge, "k1").send().await, 413, "payload_too_large");

    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 1000, "nothing was charged");
    // The key was not consumed by any of the refusals.
    assert_eq!(signer.order(&good, "k1").send().await.status, 201);
}

async fn service_rules_get_their_codes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 10, 500).await;
    let other_service = server.service(ServiceKind::Default, "1.00", 10, 500).await;
    let withdrawn = server.service(ServiceKind::Default, "1.00", 10, 500).await;
    server
        .store
        .update_service(withdrawn.id, ServicePatch { active: Some(false), ..Default::default() })
        .await
        .unwrap();
    let account = server
        .customer_with("10.00", KeyOptions { allowed_services: vec![service.id, withdrawn.id], ..Default::default() })
        .await;
    let signer = account.signer();

    assert_error(&signer.order(&order_body(999_999, 100), "k").send().await, 404, "service_not_found");
    assert_error(&signer.order(&order_body(withdrawn.id, 100), "k").send().await, 404, "service_not_found");
    assert_error(&signer.order(&order_body(other_service.id, 100), "k").send().await, 403, "service_not_allowed");
    let below =
        assert_error(&signer.order(&order_body(service.id, 9), "k").send().await, 400, "quantity_below_minimum");
    assert_eq!(below["min"], 10);
    let above =
        assert_error(&signer.order(&order_body(service.id, 501), "k").send().await, 400, "quantity_above_maximum");
    assert_eq!(above["max"], 500);

    // /services lists what this key may order, and only active services.
    let services = account.client().services().await.unwrap();
    assert_eq!(services.iter().map(|s| s.id).collect::<Vec<_>>(), vec![service.id]);
    let s = &services[0];
    assert_eq!((s.min, s.max, s.kind.as_str(), s.currency.as_str()), (10, 500, "default", "USD"));
    assert_eq!((s.price_per_1000.to_string(), s.price_per_unit.to_string()), ("1".to_string(), "0.001".to_string()));
}

async fn insufficient_balance_reports_balance_required_and_currency(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "2.50", 1, 10_000).await;
    let account = server.customer("1.00").await;
    let response = account.signer().order(&order_body(service.id, 1000), "k").send().await;
    assert_error(&response, 402, "insufficient_wallet_balance");
    let raw = text(&response);
    assert!(
        raw.contains(r#""balance":1.00"#) && raw.contains(r#""required":2.50"#) && raw.contains(r#""currency":"USD""#),
        "{raw}"
    );
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 100);
    // After a top-up the same key goes through: a refused request does not consume its key.
    server.credit(account.customer, kassa_core::Minor(150)).await;
    assert_eq!(account.signer().order(&order_body(service.id, 1000), "k").send().await.status, 201);
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 0);
}

async fn custom_comment_services_count_lines(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::CustomComments, "10.00", 1, 100).await;
    let plain = server.service(ServiceKind::Default, "1.00", 1, 100).await;
    let account = server.customer("10.00").await;
    let signer = account.signer();
    let mut body = order_body(service.id, 2);
    assert_error(&signer.order(&body, "c1").send().await, 400, "invalid_custom_comments");
    body["custom_comments"] = json!("Great post!\nAmazing content!\nThird");
    let error = assert_error(&signer.order(&body, "c1").send().await, 400, "invalid_custom_comments");
    assert!(error["details"]["custom_comments"].as_str().unwrap().contains("3 comments"));
    body["custom_comments"] = json!("Great post!\r\n\r\nAmazing content!\n");
    let created = signer.order(&body, "c1").send().await;
    assert_eq!(created.status, 201, "{}", text(&created));
    let id: kassa_core::OrderId = created.json().unwrap()["order"]["id"].as_str().unwrap().parse().unwrap();
    let stored = server.store.order(None, &id).await.unwrap().unwrap();
    assert_eq!(stored.custom_comments.as_deref(), Some("Great post!\nAmazing content!"));

    let mut on_plain = order_body(plain.id, 1);
    on_plain["custom_comments"] = json!("one");
    assert_error(&signer.order(&on_plain, "c2").send().await, 400, "invalid_custom_comments");
}

async fn orders_of_others_are_not_found(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let owner = server.customer("10.00").await;
    let stranger = server.customer("10.00").await;
    let created = owner.signer().order(&order_body(service.id, 10), "k").send().await;
    let id = created.json().unwrap()["order"]["id"].as_str().unwrap().to_string();
    assert_eq!(owner.signer().get(&format!("/api/v1/orders/{id}")).send().await.status, 200);
    assert_error(&stranger.signer().get(&format!("/api/v1/orders/{id}")).send().await, 404, "order_not_found");
    assert_error(&owner.signer().get("/api/v1/orders/BSAPI-ZZZZZZZZZZZZ").send().await, 404, "order_not_found");
    assert_error(&owner.signer().get("/api/v1/orders/1%27%20OR%201=1").send().await, 404, "order_not_found");
    // An id that is not even text once decoded names no order either: answered in the JSON
    // envelope, after the request was authenticated like any other.
    assert_error(&owner.signer().get("/api/v1/orders/%FF").send().await, 404, "order_not_found");
    assert_error(&owner.signer().request("POST", "/api/v1/orders/%FF/cancel").send().await, 404, "order_not_found");
    assert_error(&owner.signer().get("/api/v1/orders/%FF").secret("wrong").send().await, 401, "invalid_signature");
    assert_eq!(stranger.client().orders(1, 50, None).await.unwrap().total, 0);
}

async fn charges_round_up_and_keep_their_price(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "0.45", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let client = account.client();
    let request = |quantity| kassa_client::CreateOrderRequest {
        service_id: service.id,
        quantity,
        link: "https://x".into(),
        client_order_ref: None,
        custom_comments: None,
    };
    // 0.45 * 15 / 1000 = 0.00675 → 0.01: never free.
    let small = client.create_order(&request(15), None).await.unwrap();
    assert_eq!(small.order.charge.to_string(), "0.01");
    // 0.45 * 1001 / 1000 = 0.45045 → 0.46.
    let odd = client.create_order(&request(1001), None).await.unwrap();
    assert_eq!(odd.order.charge.to_string(), "0.46");

    server
        .store
        .update_service(
            service.id,
            ServicePatch { price_per_1000: Some("9.00".parse::<Price>().unwrap()), ..Default::default() },
        )
        .await
        .unwrap();
    let after = client.order(&odd.order.id).await.unwrap();
    assert_eq!(after.charge.to_string(), "0.46", "a price change does not touch existing orders");
    let new = client.create_order(&request(1001), None).await.unwrap();
    assert_eq!(new.order.charge.to_string(), "9.01");
    assert_eq!(client.balance().await.unwrap().balance.to_string(), "0.52");
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

async fn listing_pages_filters_and_bounds(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("100.00").await;
    let client = account.client();
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(account.place(service.id, 10 + i).await.order.id);
    }
    server
        .store
        .change_order(
            &ids[0].parse().unwrap(),
            StatusChange { status: Some(OrderStatus::Completed), ..Default::default() },
        )
        .await
        .unwrap();

    let first = client.orders(1, 3, None).await.unwrap();
    assert_eq!((first.page, first.limit, first.total, first.orders.len()), (1, 3, 7, 3));
    assert_eq!(first.orders[0].id, ids[6], "newest first");
    let last = client.orders(3, 3, None).await.unwrap();
    assert_eq!(last.orders.iter().map(|o| o.id.clone()).collect::<Vec<_>>(), vec![ids[0].clone()]);
    let completed = client.orders(1, 50, Some("completed")).await.unwrap();
    assert_eq!((completed.total, completed.orders[0].id.clone()), (1, ids[0].clone()));
    let past_the_end = client.orders(4, 3, None).await.unwrap();
    assert_eq!((past_the_end.total, past_the_end.orders.len()), (7, 0), "an empty page still counts");
    let none = client.orders(1, 50, Some("canceled")).await.unwrap();
    assert_eq!((none.total, none.orders.len()), (0, 0));
    let defaults = account.signer().get("/api/v1/orders").send().await.json().unwrap();
    assert_eq!((defaults["page"].as_u64(), defaults["limit"].as_u64()), (Some(1), Some(50)));

    let signer = account.signer();
    for query in ["page=0", "limit=0", "limit=101", "page=abc", "page=-1", "limit=1.5"] {
        assert_error(&signer.get(&format!("/api/v1/orders?{query}")).send().await, 400, "invalid_pagination");
    }
    assert_error(&signer.get("/api/v1/orders?status=lost").send().await, 400, "invalid_status");
}

async fn a_key_in_flight_answers_wallet_locked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let lock = server.db.hold_write_lock();
    let signer = account.signer();
    let body = order_body(service.id, 100);
    let first = tokio::spawn({
        let signer = signer.clone();
        let body = body.clone();
        async move { signer.order(&body, "slow-key").send().await }
    });
    // Give the first request time to reach the (blocked) writer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = signer.order(&body, "slow-key").send().await;
    assert_error(&second, 409, "customer_wallet_locked");
    assert_eq!(second.header("retry-after"), Some("1"));
    drop(lock);
    let first = first.await.unwrap();
    assert_eq!(first.status, 201, "{}", text(&first));
    let third = signer.order(&body, "slow-key").send().await;
    assert_eq!((third.status, third.header("idempotent-replayed")), (201, Some("true")));
    assert_eq!(third.body, first.body);
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 990);
}

async fn a_locked_database_answers_503_and_recovers(backend: Backend) {
    let options = ServerOptions {
        store: StoreOptions { busy_timeout: Duration::from_millis(200), ..Default::default() },
        ..Default::default()
    };
    let server = TestServer::start_with(backend, options).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let lock = server.db.hold_write_lock();
    let started = std::time::Instant::now();
    let response = account.signer().order(&order_body(service.id, 100), "k").send().await;
    assert_error(&response, 503, "database_unavailable");
    assert!(response.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(5), "no hang: {:?}", started.elapsed());
    drop(lock);
    let retried = account.signer().order(&order_body(service.id, 100), "k").send().await;
    assert_eq!(retried.status, 201, "{}", text(&retried));
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 990, "charged once");
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

async fn refunds_are_paid_once_from_the_order_price(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.50", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let client = account.client();
    let place = |quantity| {
        let client = &client;
        async move {
            let request = kassa_client::CreateOrderRequest {
                service_id: service.id,
                quantity,
                link: "https://x".into(),
                client_order_ref: None,
                custom_comments: None,
            };
            client.create_order(&request, None).await.unwrap().order.id.parse::<kassa_core::OrderId>().unwrap()
        }
    };
    let partial = place(450).await; // charge 0.675 → 0.68
    let canceled = place(1000).await; // charge 1.50
                                      // The price changes before the refunds: they use the order's own price.
    server
        .store
        .update_service(service.id, ServicePatch { price_per_1000: Some("100".parse().unwrap()), ..Default::default() })
        .await
        .unwrap();

    let change = |status, remains| StatusChange { status: Some(status), remains, ..Default::default() };
    let p = server.store.change_order(&partial, change(OrderStatus::Partial, Some(157))).await.unwrap();
    assert_eq!(p.refunded.0, 23, "0.68 * 157 / 450 = 0.2372 → 0.23, rounded down");
    assert!(
        server.store.change_order(&partial, change(OrderStatus::Partial, Some(100))).await.is_ok(),
        "same status: no transition, no refund"
    );
    assert!(
        server.store.change_order(&partial, change(OrderStatus::Canceled, None)).await.is_err(),
        "final states stay final"
    );
    let c = server.store.change_order(&canceled, change(OrderStatus::Canceled, None)).await.unwrap();
    assert_eq!(c.refunded.0, 150);
    assert!(server.store.change_order(&canceled, change(OrderStatus::Canceled, None)).await.unwrap().refunded.0 == 150);

    // 10.00 - 0.68 - 1.50 + 0.23 + 1.50
    assert_eq!(client.balance().await.unwrap().balance.to_string(), "9.55");
    let seen = client.order(partial.as_str()).await.unwrap();
    assert_eq!(
        (seen.status.as_str(), seen.refunded.to_string(), seen.remains),
        ("partial", "0.23".to_string(), Some(157))
    );
    let books = server.store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");
}

/// A node caches services; a change made through another connection (another node, the admin
/// CLI) must be seen by the next order, whether it opens or closes the service.
async fn a_service_changed_by_another_process_is_seen_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 10, 100).await;
    let account = server.customer("10.00").await;
    let signer = account.signer();
    let elsewhere = server.db.open(&StoreOptions::default()).await;
    let place = |quantity: u64, key: &str| signer.order(&order_body(service.id, quantity), key).send();

    // The serving node has the service cached (and refuses the quantity with it).
    assert_eq!(place(10, "seen-1").await.status, 201);
    assert_error(&place(500, "seen-2").await, 400, "quantity_above_maximum");
    // Widened elsewhere: the next order is taken. (Another quantity: the same body signed in the
    // same second under another key would be the refused request again, see the replay guard.)
    elsewhere.update_service(service.id, ServicePatch { max: Some(1000), ..Default::default() }).await.unwrap();
    assert_eq!(place(501, "seen-3").await.status, 201);
    // Withdrawn elsewhere: refused at once.
    elsewhere.update_service(service.id, ServicePatch { active: Some(false), ..Default::default() }).await.unwrap();
    assert_error(&place(11, "seen-4").await, 404, "service_not_found");
    // Back elsewhere: taken again.
    elsewhere.update_service(service.id, ServicePatch { active: Some(true), ..Default::default() }).await.unwrap();
    assert_eq!(place(12, "seen-5").await.status, 201);
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

/// `total` of the order list comes from counts kept by triggers (so a list costs the same with
/// millions of orders); they follow every insert and status change, and the books check them.
async fn list_totals_are_kept_counts_and_the_books_check_them(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 100_000).await;
    let account = server.customer("100.00").await;
    let signer = account.signer();
    let mut ids = Vec::new();
    for n in 0..5 {
        let body = json!({"service_id": service.id, "quantity": 100, "link": format!("https://x/{n}")});
        let placed = signer.order(&body, &format!("count-{n}")).send().await;
        ids.push(placed.json().unwrap()["order"]["id"].as_str().unwrap().parse::<kassa_core::OrderId>().unwrap());
    }
    let total = |status: &'static str| {
        let signer = signer.clone();
        async move {
            let path = if status.is_empty() {
                "/api/v1/orders".to_string()
            } else {
                format!("/api/v1/orders?status={status}")
            };
            signer.get(&path).send().await.json().unwrap()["total"].as_u64().unwrap()
        }
    };
    assert_eq!((total("").await, total("pending").await, total("canceled").await), (5, 5, 0));
    for (id, status) in [(&ids[0], OrderStatus::Canceled), (&ids[1], OrderStatus::Completed)] {
        server.store.change_order(id, StatusChange { status: Some(status), ..Default::default() }).await.unwrap();
    }
    assert_eq!((total("").await, total("pending").await, total("canceled").await), (5, 3, 1));
    assert!(server.store.audit_books().await.unwrap().is_balanced());

    // A count that disagrees with the orders is found.
    server.db.execute_sql("UPDATE order_counts SET count = count + 1 WHERE status = 'pending'").await;
    let books = server.store.audit_books().await.unwrap();
    assert_eq!(books.order_count_mismatches, vec![account.customer.0], "{books:?}");
    assert!(!books.is_balanced());
}

/// A refund belongs to the order's own customer: one moved to another wallet (with both balances
/// made to agree with their ledgers, so no other check sees it) is found, and so is a refund
/// whose order does not exist.
async fn the_books_find_refunds_paid_to_another_customer_or_to_no_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 100_000).await;
    let owner = server.customer("10.00").await;
    let other = server.customer("10.00").await;
    let placed = owner.signer().order(&order_body(service.id, 1000), "refund-owner").send().await;
    let id = placed.json().unwrap()["order"]["id"].as_str().unwrap().parse::<kassa_core::OrderId>().unwrap();
    let change = StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() };
    assert_eq!(server.store.change_order(&id, change).await.unwrap().refunded.0, 100);
    assert!(server.store.audit_books().await.unwrap().is_balanced());

    let rebalance = "UPDATE wallets SET balance = (SELECT SUM(amount) FROM ledger_entries e
                                                   WHERE e.customer_id = wallets.customer_id)";
    server
        .db
        .execute_sql(&format!(
            "UPDATE ledger_entries SET customer_id = {} WHERE kind = 'order_refund'",
            other.customer.0
        ))
        .await;
    server.db.execute_sql(rebalance).await;
    let books = server.store.audit_books().await.unwrap();
    assert_eq!(books.balance_mismatches, Vec::<i64>::new(), "{books:?}");
    assert_eq!(books.refund_mismatches, vec![id.to_string()], "{books:?}");
    assert!(!books.is_balanced());

    server
        .db
        .execute_sql(&format!(
            "UPDATE ledger_entries SET customer_id = {}, order_id = 'BSAPI-000000000000' WHERE kind = 'order_refund'",
            owner.customer.0
        ))
        .await;
    server.db.execute_sql(rebalance).await;
    let books = server.store.audit_books().await.unwrap();
    assert_eq!(books.entries_without_order, vec![format!("refund:{id}")], "{books:?}");
    assert!(!books.is_balanced());
}

/// The books find an order's entries by their references, so they check that no charge or
/// refund sits under another reference (a second charge of an order would hide there) and that
/// no other entry takes an order's reference.
async fn the_books_find_order_entries_under_another_reference(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 100_000).await;
    let owner = server.customer("10.00").await;
    let placed = owner.signer().order(&order_body(service.id, 1000), "second-charge").send().await;
    let id = placed.json().unwrap()["order"]["id"].as_str().unwrap().to_string();
    assert!(server.store.audit_books().await.unwrap().is_balanced());
    let customer = owner.customer.0;

    // A second charge of the order, with the wallet made to agree with its ledger.
    server
        .db
        .execute_sql(&format!(
            "INSERT INTO ledger_entries (customer_id, kind, amount, balance_after, reference, order_id, created_at)
             VALUES ({customer}, 'order_charge', -100, 800, 'second-charge-{id}', '{id}', 0)"
        ))
        .await;
    server.db.execute_sql(&format!("UPDATE wallets SET balance = 800 WHERE customer_id = {customer}")).await;
    let books = server.store.audit_books().await.unwrap();
    assert_eq!(books.balance_mismatches, Vec::<i64>::new(), "{books:?}");
    assert_eq!(books.entries_without_order, vec![format!("second-charge-{id}")], "{books:?}");
    assert!(!books.is_balanced());

    // Taken back as an adjustment that keeps the reference of an order's refund.
    server
        .db
        .execute_sql(&format!(
            "UPDATE ledger_entries SET kind = 'adjustment', reference = 'refund:{id}', order_id = NULL
             WHERE reference = 'second-charge-{id}'"
        ))
        .await;
    let books = server.store.audit_books().await.unwrap();
    assert_eq!(books.entries_without_order, vec![format!("refund:{id}")], "{books:?}");
    assert!(!books.is_balanced());
}

/// A remains or start count above `i64::MAX` (from an operator, or a provider's garbled answer)
/// is refused before anything moves: stored, it would wrap to a negative number that the order
/// could not be read back with, jamming every later change of it.
async fn unit_counts_no_column_holds_are_refused_and_the_order_stays_readable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 100_000).await;
    let account = server.customer("10.00").await;
    let placed = account.signer().order(&order_body(service.id, 1000), "huge-counts").send().await;
    let id = placed.json().unwrap()["order"]["id"].as_str().unwrap().parse::<kassa_core::OrderId>().unwrap();
    for change in [
        StatusChange { status: Some(OrderStatus::Canceled), remains: Some(u64::MAX), ..Default::default() },
        StatusChange { start_count: Some(i64::MAX as u64 + 1), ..Default::default() },
    ] {
        let refused = server.store.change_order(&id, change).await;
        assert!(matches!(refused, Err(kassa_store::StoreError::Invalid(_))), "{refused:?}");
    }
    let order = server.store.order(None, &id).await.unwrap().unwrap();
    assert_eq!((order.status, order.refunded.0, order.remains), (OrderStatus::Pending, 0, None));
    let change = StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() };
    assert_eq!(server.store.change_order(&id, change).await.unwrap().refunded.0, 100);
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

/// The store, not only the CLI, refuses an operator's refund of an order a provider has: the
/// check runs on the order as the changing transaction reads it, so a worker that claimed the
/// order after the CLI looked at it is seen. Any change of an order being sent (`submitting`) is
/// refused, even with the confirmation; a provider's order (`submitted`, `needs_review`) needs it.
async fn operator_refunds_are_decided_on_where_the_provider_stands_now(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 100_000).await;
    let account = server.customer("10.00").await;
    for (n, upstream) in ["submitting", "submitted", "needs_review"].into_iter().enumerate() {
        let body = json!({"service_id": service.id, "quantity": 1000, "link": format!("https://x/{n}")});
        let placed = account.signer().order(&body, &format!("held-{n}")).send().await;
        let id = placed.json().unwrap()["order"]["id"].as_str().unwrap().parse::<kassa_core::OrderId>().unwrap();
        server.db.execute_sql(&format!("UPDATE orders SET upstream = '{upstream}' WHERE id = '{id}'")).await;
        for status in [OrderStatus::Canceled, OrderStatus::Partial] {
            let change = StatusChange { status: Some(status), remains: Some(10), ..Default::default() };
            let refused = server.store.change_order(&id, change).await;
            assert!(matches!(refused, Err(kassa_store::StoreError::Invalid(_))), "{upstream} {status}: {refused:?}");
        }
        let moved = StatusChange { status: Some(OrderStatus::InProgress), ..Default::default() };
        let moved = server.store.change_order(&id, moved).await;
        match upstream {
            // The sending worker's answer decides an order being sent (see the fulfilment tests).
            "submitting" => assert!(matches!(moved, Err(kassa_store::StoreError::Invalid(_))), "{moved:?}"),
            _ => assert_eq!(moved.unwrap().status, OrderStatus::InProgress, "no refund"),
        }
        let confirmed =
            StatusChange { status: Some(OrderStatus::Canceled), provider_will_not_deliver: true, ..Default::default() };
        let answer = server.store.change_order(&id, confirmed).await;
        match upstream {
            "submitting" => assert!(matches!(answer, Err(kassa_store::StoreError::Invalid(_))), "{answer:?}"),
            _ => assert_eq!(answer.unwrap().refunded.0, 100, "{upstream}"),
        }
    }
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

/// A new key with a client reference or a signed request already used is a duplicate, whatever
/// else is wrong with it: both stores check key, reference and signature before the service.
async fn a_reused_reference_or_signature_answers_the_same_on_both_stores(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 10, 100_000).await;
    let account = server.customer("10.00").await;
    let signer = account.signer();
    let mut referenced = order_body(service.id, 1000);
    referenced["client_order_ref"] = json!("ref-1");
    assert_eq!(signer.order(&referenced, "first").send().await.status, 201);
    referenced["quantity"] = json!(5);
    assert_error(&signer.order(&referenced, "second").send().await, 409, "duplicate_order");

    let ts = crate::support::raw::now();
    let body = json!({"service_id": service.id, "quantity": 1000, "link": "https://x/signed"});
    assert_eq!(signer.order(&body, "signed-1").timestamp(ts).send().await.status, 201);
    server.store.update_service(service.id, ServicePatch { active: Some(false), ..Default::default() }).await.unwrap();
    let replayed = signer.order(&body, "signed-2").timestamp(ts).send().await;
    assert_error(&replayed, 409, "duplicate_order");
}
