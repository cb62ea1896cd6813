//! Orders flowing through a real provider simulator and real workers: completion, partial and
//! canceled outcomes refunded exactly once, ambiguous submissions held for review and never sent
//! twice, batched status polling, and the customer's cancel and refill requests.

use std::collections::HashMap;
use std::time::Duration;

use kassa_core::{OrderId, OrderStatus};
use kassa_provider_sim::{Control, Fault, Outcome};
use kassa_store::{OrderFilter, OrderRecord, Resolution, StatusChange, StoreError, Upstream};
use serde_json::json;

use crate::support::fulfilment::{eventually, quick_simulator, quick_worker, Shop, SIM_KEY};
use crate::support::{assert_error, Account, Backend, TestServer};
use kassa_store::RefillReservation;

crate::backend_tests!(
    an_order_reaches_completed_through_the_worker,
    partial_and_canceled_outcomes_refund_once_across_restarts_and_racing_workers,
    an_ambiguous_submission_is_reviewed_never_resent,
    a_provider_that_cannot_be_reached_is_retried_then_reviewed,
    a_refused_order_is_canceled_and_refunded,
    statuses_are_polled_in_batches,
    a_panel_without_multi_status_is_polled_order_by_order,
    an_expired_claim_goes_to_review_and_a_late_answer_is_only_noted,
    a_late_answer_under_an_old_claim_does_not_decide_for_a_newer_one,
    only_the_sending_claim_decides_and_a_late_acceptance_is_not_sent_again,
    a_settled_order_in_review_is_not_sent_again_nor_checked_for_ever,
    orders_older_builds_left_queued_at_a_provider_go_to_review,
    customers_cancel_and_refill,
    a_refill_key_asks_the_provider_once_across_nodes,
    a_refill_reservation_is_taken_over_once_stale_and_given_back_when_refused,
    a_refill_whose_client_left_is_still_recorded_under_its_key,
);

const WAIT: Duration = Duration::from_secs(15);

async fn place(account: &Account, service: i64, quantity: u64) -> OrderId {
    let unique = kassa_core::ids::random_token(b"abcdef0123456789", 16);
    let body =
        json!({"service_id": service, "quantity": quantity, "link": format!("https://example.com/post/{unique}")});
    let response = account.signer().order(&body, &format!("k-{unique}")).send().await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    response.json().unwrap()["order"]["id"].as_str().unwrap().parse().unwrap()
}

async fn order(server: &TestServer, id: &OrderId) -> OrderRecord {
    server.store.order(None, id).await.unwrap().expect("order exists")
}

async fn until_final(server: &TestServer, id: &OrderId) -> OrderRecord {
    eventually(WAIT, &format!("order {id} to finish"), || async {
        let order = order(server, id).await;
        (order.status.is_final() || order.status == OrderStatus::Completed).then_some(order)
    })
    .await
}

async fn until_upstream(server: &TestServer, id: &OrderId, upstream: Upstream) -> OrderRecord {
    eventually(WAIT, &format!("order {id} to be {upstream} upstream"), || async {
        let order = order(server, id).await;
        (order.upstream == upstream).then_some(order)
    })
    .await
}

/// Places an order and lets a worker take it through the provider to `completed`.
async fn completed(server: &TestServer, account: &Account, service: i64) -> OrderId {
    let worker = server.worker(quick_worker());
    let id = place(account, service, 1000).await;
    assert_eq!(until_final(server, &id).await.status, OrderStatus::Completed);
    worker.stop().await;
    id
}

/// `POST /api/v1/orders/{id}/refill` as a client sends it: signed, without a body.
fn refill_request(account: &Account, id: &OrderId) -> crate::support::raw::Spec {
    account.signer().post(&format!("/api/v1/orders/{id}/refill"), &json!({})).content_type(None).body(Vec::new())
}

fn adds(sim: &kassa_provider_sim::Simulator) -> usize {
    sim.requests().iter().filter(|r| r.action == "add").count()
}

async fn an_order_reaches_completed_through_the_worker(backend: Backend) {
    let Shop { server, sim, service, account } = Shop::open(backend, quick_simulator().await, "0.90").await;
    let worker = server.worker(quick_worker());

    let id = place(&account, service.id, 1000).await;
    let done = until_final(&server, &id).await;
    assert_eq!(done.status, OrderStatus::Completed);
    assert_eq!(done.upstream, Upstream::Closed);
    let seen = account.client().order(id.as_str()).await.unwrap();
    assert_eq!(
        (seen.status.as_str(), seen.smm_status.as_deref()),
        ("completed", Some("Completed")),
        "smm_status mirrors the provider"
    );
    assert_eq!(seen.refunded.to_string(), "0.00");
    assert_eq!(adds(&sim), 1);
    let add = sim.requests().into_iter().find(|r| r.action == "add").unwrap();
    assert_eq!((add.params["service"].as_str(), add.params["quantity"].as_str()), ("1", "1000"));
    assert!(!add.params.contains_key("key"), "the simulator never logs the key");
    worker.stop().await;
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

async fn partial_and_canceled_outcomes_refund_once_across_restarts_and_racing_workers(backend: Backend) {
    let sim = quick_simulator().await;
    sim.control(Control { outcomes: vec![Outcome::Partial { remains: 157 }, Outcome::Canceled], ..Default::default() });
    let Shop { server, sim: _sim, service, account } = Shop::open(backend, sim, "1.50").await;

    // One worker sends both (one after the other, so each meets its outcome), then stops: a
    // restart mid-way.
    let first = server.worker(quick_worker());
    let partial = place(&account, service.id, 450).await; // 0.675 → 0.68
    until_upstream(&server, &partial, Upstream::Submitted).await;
    let canceled = place(&account, service.id, 1000).await; // 1.50
    until_upstream(&server, &canceled, Upstream::Submitted).await;
    first.stop().await;
    // Two workers race to poll and refund.
    let a = server.worker(quick_worker());
    let b = server.worker(quick_worker());
    let p = until_final(&server, &partial).await;
    let c = until_final(&server, &canceled).await;
    // Give the racing workers more rounds: a second refund would show now.
    tokio::time::sleep(Duration::from_millis(400)).await;
    a.stop().await;
    b.stop().await;

    let p2 = order(&server, &partial).await;
    let c2 = order(&server, &canceled).await;
    assert_eq!(
        (p.status, p2.refunded.0, p2.remains),
        (OrderStatus::Partial, 23, Some(157)),
        "0.68 x 157/450 = 0.2372 → 0.23"
    );
    assert_eq!((c.status, c2.refunded.0), (OrderStatus::Canceled, 150));
    // 10.00 - 0.68 - 1.50 + 0.23 + 1.50
    assert_eq!(account.client().balance().await.unwrap().balance.to_string(), "9.55");
    let refunds: usize = server
        .store
        .ledger(account.customer, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == kassa_store::LedgerKind::OrderRefund)
        .count();
    assert_eq!(refunds, 2, "one refund entry per order");
    let books = server.store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");
}

async fn an_ambiguous_submission_is_reviewed_never_resent(backend: Backend) {
    let sim = quick_simulator().await;
    sim.control(Control {
        faults: HashMap::from([("add".into(), vec![Fault::Timeout, Fault::Reset])]),
        ..Default::default()
    });
    let Shop { server, sim, service, account } = Shop::open(backend, sim, "1.00").await;
    let worker = server.worker(quick_worker());

    // One at a time, so the simulator's order ids are known: 1001, then 1002.
    let timed_out = place(&account, service.id, 1000).await;
    let first = until_upstream(&server, &timed_out, Upstream::NeedsReview).await;
    let reset = place(&account, service.id, 1000).await;
    let second = until_upstream(&server, &reset, Upstream::NeedsReview).await;
    assert!(first.last_error.as_deref().unwrap_or_default().contains("may have the order"), "{:?}", first.last_error);
    assert!(second.last_error.as_deref().unwrap_or_default().contains("may have the order"), "{:?}", second.last_error);
    // More rounds: nothing is sent again, nothing refunded.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(adds(&sim), 2, "each order was sent once: {:?}", sim.requests());
    assert_eq!(account.client().balance().await.unwrap().balance.to_string(), "8.00", "no automatic refund");
    let review = server
        .store
        .list_orders(OrderFilter { upstream: Some(Upstream::NeedsReview), page: 1, limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(review.total, 2);

    // The operator finds the first at the provider (the simulator did create it) and attaches it;
    // the second, not found there, is canceled with a refund (confirmed: it is in needs_review).
    let attached =
        server.store.resolve_review(&timed_out, Resolution::Attach { provider_order_id: "1001".into() }).await.unwrap();
    assert_eq!((attached.upstream, attached.status), (Upstream::Submitted, OrderStatus::Processing));
    // One provider order is not tied to two orders: a cancellation there would refund both.
    let twice = Resolution::Attach { provider_order_id: "1001".into() };
    let twice = server.store.resolve_review(&reset, twice).await.unwrap_err();
    assert!(matches!(&twice, StoreError::Invalid(m) if m.contains("already belongs to order")), "{twice:?}");
    let canceled = server
        .store
        .change_order(
            &reset,
            StatusChange { status: Some(OrderStatus::Canceled), provider_will_not_deliver: true, ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!((canceled.upstream, canceled.refunded.0), (Upstream::Closed, 100));
    let done = until_final(&server, &timed_out).await;
    assert_eq!(done.status, OrderStatus::Completed);
    worker.stop().await;
    assert_eq!(adds(&sim), 2);
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

async fn a_provider_that_cannot_be_reached_is_retried_then_reviewed(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Nothing listens here: every attempt fails before a byte is sent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let provider = server.provider("down", &format!("http://{closed}/api/v2")).await;
    let service = server.provided_service(&provider, "1", "1.00").await;
    let account = server.customer("10.00").await;
    let worker = server.worker(quick_worker());
    let id = place(&account, service.id, 1000).await;

    let retried = eventually(WAIT, "a retry", || async {
        let o = order(&server, &id).await;
        (o.attempts >= 1 && o.upstream == Upstream::Queued).then_some(o)
    })
    .await;
    assert!(retried.next_attempt_at.unwrap() > retried.updated_at, "the retry waits (backoff)");
    let reviewed = until_upstream(&server, &id, Upstream::NeedsReview).await;
    assert!(reviewed.last_error.as_deref().unwrap().starts_with("never sent"), "{:?}", reviewed.last_error);
    assert_eq!(reviewed.attempts, 2, "bounded: the third failed attempt sent it to review");
    worker.stop().await;
    assert_eq!(account.client().balance().await.unwrap().balance.to_string(), "9.00", "no automatic refund");

    // Not once the provider's late answer says it has the order: that would send it twice.
    server.db.execute_sql(&format!("UPDATE orders SET provider_order_id = '77' WHERE id = '{id}'")).await;
    let refused = server.store.resolve_review(&id, Resolution::Requeue).await.unwrap_err();
    assert!(matches!(&refused, StoreError::Invalid(m) if m.contains("attach")), "{refused:?}");
    server.db.execute_sql(&format!("UPDATE orders SET provider_order_id = NULL WHERE id = '{id}'")).await;

    // The operator may send it again: the bounded attempts start over.
    let requeued = server.store.resolve_review(&id, Resolution::Requeue).await.unwrap();
    assert_eq!((requeued.upstream, requeued.attempts), (Upstream::Queued, 0));
}

async fn a_refused_order_is_canceled_and_refunded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sim = quick_simulator().await;
    // The simulator has no service 999: it answers {"error": "Incorrect service ID"}.
    let service = server.simulated_service(&sim, "999", "1.00").await;
    let account = server.customer("10.00").await;
    let worker = server.worker(quick_worker());
    let id = place(&account, service.id, 1000).await;
    let done = until_final(&server, &id).await;
    worker.stop().await;
    assert_eq!((done.status, done.refunded.0, done.upstream), (OrderStatus::Canceled, 100, Upstream::Closed));
    assert!(done.last_error.as_deref().unwrap().contains("Incorrect service ID"));
    assert_eq!(account.client().balance().await.unwrap().balance.to_string(), "10.00");
}

/// A panel that knows only `status` with `order=`: the first multi-status call shows it, and
/// from then on every order is asked about on its own, and still completes.
async fn a_panel_without_multi_status_is_polled_order_by_order(backend: Backend) {
    let config = kassa_provider_sim::SimConfig {
        key: SIM_KEY.into(),
        pending: Duration::from_millis(100),
        in_progress: Duration::from_millis(150),
        multi_status: false,
        ..kassa_provider_sim::SimConfig::default()
    };
    let sim = kassa_provider_sim::Simulator::start("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let Shop { server, sim, service, account } = Shop::open(backend, sim, "1.00").await;
    let worker = server.worker(quick_worker());
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(place(&account, service.id, 100).await);
    }
    for id in &ids {
        let done = until_final(&server, id).await;
        assert_eq!((done.status, done.smm_status.as_deref()), (OrderStatus::Completed, Some("Completed")));
    }
    worker.stop().await;
    let polls: Vec<_> = sim.requests().into_iter().filter(|r| r.action == "status").collect();
    let multi = polls.iter().filter(|p| p.params.contains_key("orders")).count();
    assert_eq!(multi, 1, "one multi-status call shows the panel lacks it");
    assert!(polls.iter().filter(|p| p.params.contains_key("order")).count() >= 3);
}

async fn statuses_are_polled_in_batches(backend: Backend) {
    let Shop { server, sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(place(&account, service.id, 100).await);
    }
    // A poll interval wider than the spread of the five submissions: they fall into one window.
    let worker = server
        .worker(kassa_server::fulfilment::WorkerConfig { poll_interval: Duration::from_millis(600), ..quick_worker() });
    for id in &ids {
        until_final(&server, id).await;
    }
    worker.stop().await;
    let polls: Vec<_> = sim.requests().into_iter().filter(|r| r.action == "status").collect();
    assert!(!polls.is_empty());
    assert!(
        polls.iter().all(|p| p.params.contains_key("orders") && !p.params.contains_key("order")),
        "only multi-status calls"
    );
    let widest = polls.iter().map(|p| p.params["orders"].split(',').count()).max().unwrap();
    assert!(widest >= 3, "calls cover several orders at once (widest: {widest})");
    assert!(polls.len() < 5 * 6, "batched: {} status calls for 5 orders", polls.len());
}

/// An operator sent an order whose claim ran out again (nothing said the provider had it), and a
/// new claim is sending it: the first claim's late answer must not decide for the new one. A late
/// "not sent" must not queue it a third time; a late "accepted" is kept, and when the new attempt
/// is accepted too the order goes to review, because the provider now holds it twice.
async fn a_late_answer_under_an_old_claim_does_not_decide_for_a_newer_one(backend: Backend) {
    use kassa_store::Submission;
    let Shop { server, sim: _sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let (store, srv) = (&server.store, &server);
    // Claimed by a worker that stalls past its lease, sent to review, then requeued and claimed anew.
    let stalled_then_claimed_again = |id: OrderId| async move {
        let stale = store.claim_submissions(10, Duration::from_millis(50)).await.unwrap();
        assert_eq!(stale.orders.iter().map(|o| &o.id).collect::<Vec<_>>(), vec![&id]);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(store.claim_submissions(10, Duration::from_secs(60)).await.unwrap().orders.is_empty());
        assert_eq!(order(srv, &id).await.upstream, Upstream::NeedsReview);
        store.resolve_review(&id, Resolution::Requeue).await.unwrap();
        let current = store.claim_submissions(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(current.orders.iter().map(|o| &o.id).collect::<Vec<_>>(), vec![&id]);
        (stale.until, current.until)
    };

    let first = place(&account, service.id, 1000).await;
    let (stale, current) = stalled_then_claimed_again(first.clone()).await;
    let not_sent = Submission::NotSent { error: "connection refused".into(), retry_at: 0 };
    let late = store.record_submission(&first, stale, not_sent, 0).await.unwrap();
    assert_eq!((late.upstream, late.attempts), (Upstream::Submitting, 0), "still the new claim's");
    assert!(store.claim_submissions(10, Duration::from_secs(60)).await.unwrap().orders.is_empty(), "not queued");
    let accepted = Submission::Accepted { provider_order_id: "777".into() };
    let recorded = store.record_submission(&first, current, accepted, 0).await.unwrap();
    assert_eq!(
        (recorded.upstream, recorded.status, recorded.provider_order_id.as_deref()),
        (Upstream::Submitted, OrderStatus::Processing, Some("777"))
    );

    // A check claimed early is not due again while its lease runs, however far the claim looks
    // ahead (a poll interval far above the lease once had every round check it again).
    let early = store.claim_polls(10, Duration::from_secs(600), Duration::from_secs(60)).await.unwrap();
    assert_eq!(early.orders.len(), 1);
    assert!(store.claim_polls(10, Duration::from_secs(600), Duration::from_secs(60)).await.unwrap().orders.is_empty());
    store.record_poll(&first, early.until, StatusChange::default(), 0).await.unwrap();

    // Status checks: a report made under a claim that ran out is older than the newer claim's.
    let stale_poll = store.claim_polls(10, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!(stale_poll.orders.len(), 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let current_poll = store.claim_polls(10, Duration::ZERO, Duration::from_secs(60)).await.unwrap();
    assert_eq!(current_poll.orders.len(), 1, "a check whose lease ran out is claimed again");
    let in_progress = StatusChange { status: Some(OrderStatus::InProgress), ..Default::default() };
    store.record_poll(&first, current_poll.until, in_progress, 0).await.unwrap();
    let canceled = StatusChange { status: Some(OrderStatus::Canceled), ..Default::default() };
    let late = store.record_poll(&first, stale_poll.until, canceled, 0).await.unwrap();
    assert_eq!((late.status, late.refunded.0), (OrderStatus::InProgress, 0), "the late report changed nothing");

    let second = place(&account, service.id, 1000).await;
    let (stale, current) = stalled_then_claimed_again(second.clone()).await;
    let late_accept = Submission::Accepted { provider_order_id: "555".into() };
    let late = store.record_submission(&second, stale, late_accept, 0).await.unwrap();
    assert_eq!((late.upstream, late.provider_order_id.as_deref()), (Upstream::Submitting, Some("555")));
    let accepted = Submission::Accepted { provider_order_id: "888".into() };
    let twice = store.record_submission(&second, current, accepted, 0).await.unwrap();
    assert_eq!(
        (twice.upstream, twice.status, twice.provider_order_id.as_deref()),
        (Upstream::NeedsReview, OrderStatus::Pending, Some("555"))
    );
    let reason = twice.last_error.unwrap_or_default();
    assert!(reason.contains("555") && reason.contains("888"), "{reason}");
    assert!(store.resolve_review(&second, Resolution::Requeue).await.is_err(), "not sent a third time");
    assert!(store.audit_books().await.unwrap().is_balanced());
}

/// While an order is being sent, only the sending worker's answer decides it: an operator's edit
/// is refused (an edit once cleared the claim, the answer then counted as late, and the order
/// stayed `submitting` for good). And an order an operator requeued after review, whose earlier
/// attempt the provider turns out to have accepted, is attached to that provider order instead of
/// being sent a second time; one already sent again goes to review.
async fn only_the_sending_claim_decides_and_a_late_acceptance_is_not_sent_again(backend: Backend) {
    use kassa_store::Submission;
    let Shop { server, sim: _sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let store = &server.store;

    let sending = place(&account, service.id, 1000).await;
    let claim = store.claim_submissions(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(claim.orders.len(), 1);
    for edit in [
        StatusChange { status: Some(OrderStatus::InProgress), ..Default::default() },
        StatusChange { smm_status: Some("Pending".into()), ..Default::default() },
    ] {
        let refused = store.change_order(&sending, edit).await;
        assert!(matches!(&refused, Err(StoreError::Invalid(reason)) if reason.contains("being sent")), "{refused:?}");
    }
    let accepted = Submission::Accepted { provider_order_id: "41".into() };
    let recorded = store.record_submission(&sending, claim.until, accepted, 0).await.unwrap();
    assert_eq!(
        (recorded.upstream, recorded.status, recorded.provider_order_id.as_deref()),
        (Upstream::Submitted, OrderStatus::Processing, Some("41")),
        "the sending claim's answer decided"
    );

    let requeued = place(&account, service.id, 1000).await;
    let stale = store.claim_submissions(10, Duration::from_millis(50)).await.unwrap();
    assert_eq!(stale.orders.iter().map(|o| &o.id).collect::<Vec<_>>(), vec![&requeued]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(store.claim_submissions(10, Duration::ZERO).await.unwrap().orders.is_empty(), "swept to review");
    assert_eq!(order(&server, &requeued).await.upstream, Upstream::NeedsReview);
    store.resolve_review(&requeued, Resolution::Requeue).await.unwrap();
    let late = Submission::Accepted { provider_order_id: "42".into() };
    let attached = store.record_submission(&requeued, stale.until, late, 0).await.unwrap();
    assert_eq!(
        (attached.upstream, attached.status, attached.provider_order_id.as_deref()),
        (Upstream::Submitted, OrderStatus::Processing, Some("42"))
    );
    assert!(attached.last_error.as_deref().is_some_and(|note| note.contains("42")), "{attached:?}");
    assert!(store.claim_submissions(10, Duration::from_secs(60)).await.unwrap().orders.is_empty(), "not sent again");

    // Sent again and accepted before the first attempt's acceptance comes: held twice, reviewed.
    let twice = place(&account, service.id, 1000).await;
    let stale = store.claim_submissions(10, Duration::from_millis(50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(store.claim_submissions(10, Duration::ZERO).await.unwrap().orders.is_empty(), "swept to review");
    store.resolve_review(&twice, Resolution::Requeue).await.unwrap();
    let again = store.claim_submissions(10, Duration::from_secs(60)).await.unwrap();
    let accepted = Submission::Accepted { provider_order_id: "43".into() };
    assert_eq!(store.record_submission(&twice, again.until, accepted, 0).await.unwrap().upstream, Upstream::Submitted);
    let late = Submission::Accepted { provider_order_id: "44".into() };
    let reviewed = store.record_submission(&twice, stale.until, late, 0).await.unwrap();
    assert_eq!((reviewed.upstream, reviewed.provider_order_id.as_deref()), (Upstream::NeedsReview, Some("43")));
    let reason = reviewed.last_error.unwrap_or_default();
    assert!(reason.contains("43") && reason.contains("44"), "{reason}");
    let books = store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");
}

/// An order an operator canceled (and refunded) while in review, whose earlier attempt the
/// provider turns out to have accepted, comes back to review. It is not sent again (`requeue`
/// once did, delivering an order we had refunded); attached, a provider report it cannot take
/// sends it back to review instead of checking it for ever; `dismiss` closes the review of such
/// a settled order only, and moves no money.
async fn a_settled_order_in_review_is_not_sent_again_nor_checked_for_ever(backend: Backend) {
    use kassa_store::Submission;
    let Shop { server, sim: _sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let store = &server.store;

    let id = place(&account, service.id, 1000).await;
    let stale = store.claim_submissions(10, Duration::from_millis(50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(store.claim_submissions(10, Duration::ZERO).await.unwrap().orders.is_empty(), "swept to review");
    let pending = store.resolve_review(&id, Resolution::Dismiss).await;
    assert!(matches!(&pending, Err(StoreError::Invalid(reason)) if reason.contains("paid for")), "{pending:?}");
    let cancel =
        StatusChange { status: Some(OrderStatus::Canceled), provider_will_not_deliver: true, ..Default::default() };
    assert_eq!(store.change_order(&id, cancel).await.unwrap().upstream, Upstream::Closed);
    let late = Submission::Accepted { provider_order_id: "45".into() };
    let reviewed = store.record_submission(&id, stale.until, late, 0).await.unwrap();
    assert_eq!((reviewed.upstream, reviewed.status), (Upstream::NeedsReview, OrderStatus::Canceled));

    let requeue = store.resolve_review(&id, Resolution::Requeue).await;
    assert!(matches!(&requeue, Err(StoreError::Invalid(reason)) if reason.contains("settled")), "{requeue:?}");
    assert!(store.claim_submissions(10, Duration::from_secs(60)).await.unwrap().orders.is_empty(), "not sent");

    let attached = store.resolve_review(&id, Resolution::Attach { provider_order_id: "45".into() }).await.unwrap();
    assert_eq!(attached.upstream, Upstream::Submitted);
    let poll = store.claim_polls(10, Duration::ZERO, Duration::from_secs(60)).await.unwrap();
    assert_eq!(poll.orders.len(), 1);
    let delivered = StatusChange {
        status: Some(OrderStatus::Completed),
        smm_status: Some("Completed".into()),
        ..Default::default()
    };
    let back = store.record_poll(&id, poll.until, delivered, 0).await.unwrap();
    assert_eq!((back.upstream, back.status), (Upstream::NeedsReview, OrderStatus::Canceled), "not checked again");
    assert!(back.last_error.as_deref().is_some_and(|note| note.contains("Completed")), "{back:?}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(store.claim_polls(10, Duration::from_secs(600), Duration::from_secs(60)).await.unwrap().orders.is_empty());

    let dismissed = store.resolve_review(&id, Resolution::Dismiss).await.unwrap();
    assert_eq!(
        (dismissed.upstream, dismissed.status, dismissed.refunded),
        (Upstream::Closed, OrderStatus::Canceled, back.refunded)
    );
    assert_eq!(account.client().balance().await.unwrap().balance.to_string(), "10.00", "refunded once, nothing moved");
    let books = store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");
}

/// Older builds could leave an order `queued` with the provider order id of a late acceptance:
/// never sent again, never checked. The migration hands such orders to review, and only those.
async fn orders_older_builds_left_queued_at_a_provider_go_to_review(backend: Backend) {
    let Shop { server, sim: _sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let stranded = place(&account, service.id, 1000).await;
    let waiting = place(&account, service.id, 1000).await;
    server
        .db
        .execute_sql(&format!(
            "UPDATE orders SET provider_order_id = '46' WHERE id = '{stranded}';
             DELETE FROM kassa_schema WHERE name = 'stranded_queued';"
        ))
        .await;
    assert_eq!(server.db.migrate().await.len(), 1);

    let reviewed = order(&server, &stranded).await;
    assert_eq!((reviewed.upstream, reviewed.status), (Upstream::NeedsReview, OrderStatus::Pending));
    assert!(reviewed.last_error.as_deref().is_some_and(|note| note.contains("46")), "{reviewed:?}");
    assert_eq!(order(&server, &waiting).await.upstream, Upstream::Queued, "an order waiting to be sent stays");
    let attached = server.store.resolve_review(&stranded, Resolution::Attach { provider_order_id: "46".into() }).await;
    assert_eq!(attached.unwrap().upstream, Upstream::Submitted);
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

async fn customers_cancel_and_refill(backend: Backend) {
    let Shop { server, sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let fixed = server.service(kassa_core::catalog::ServiceKind::Default, "1.00", 1, 100_000).await; // no cancel, no refill
    let signer = account.signer();
    let cancel = |id: &OrderId| {
        signer.post(&format!("/api/v1/orders/{id}/cancel"), &json!({})).content_type(None).body(Vec::new())
    };
    let refill = |id: &OrderId| refill_request(&account, id);

    // Not yet at the provider: canceled and refunded at once.
    let early = place(&account, service.id, 1000).await;
    let answer = cancel(&early).send().await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let body = answer.json().unwrap();
    assert_eq!(
        (body["cancel"].as_str(), body["order"]["status"].as_str(), body["order"]["refunded"].as_f64()),
        (Some("canceled"), Some("canceled"), Some(1.0))
    );
    // A retried cancel (its first answer lost) gets the same answer, and nothing is refunded twice.
    let again = cancel(&early).send().await;
    assert_eq!(again.status, 200, "{}", String::from_utf8_lossy(&again.body));
    let again = again.json().unwrap();
    assert_eq!((&again["cancel"], &again["order"]), (&body["cancel"], &body["order"]));
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 1_000, "refunded once");

    let plain = place(&account, fixed.id, 1000).await;
    assert_error(&cancel(&plain).send().await, 409, "cancel_not_supported");
    assert_error(&refill(&plain).send().await, 409, "refill_not_supported");
    assert_error(&cancel(&"BSAPI-ZZZZZZZZZZZZ".parse().unwrap()).send().await, 404, "order_not_found");

    // At the provider: the provider is asked, and the refund follows its report.
    let worker = server.worker(quick_worker());
    let late = place(&account, service.id, 1000).await;
    until_upstream(&server, &late, Upstream::Submitted).await;
    assert_error(&refill(&late).send().await, 409, "order_not_refillable");
    let answer = cancel(&late).send().await;
    assert_eq!((answer.status, answer.json().unwrap()["cancel"].as_str()), (200, Some("requested")));
    let canceled = until_final(&server, &late).await;
    assert_eq!((canceled.status, canceled.refunded.0), (OrderStatus::Canceled, 100));
    assert!(sim.requests().iter().any(|r| r.action == "cancel"));

    // A completed order is refilled through the provider.
    let done = place(&account, service.id, 1000).await;
    assert_eq!(until_final(&server, &done).await.status, OrderStatus::Completed);
    let answer = refill(&done).send().await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let body = answer.json().unwrap();
    assert_eq!(
        (body["refill"]["status"].as_str(), body["refill"]["order_id"].as_str()),
        (Some("requested"), Some(done.as_str()))
    );

    // Under an idempotency key a retried refill answers the first one, and the provider is asked
    // once; the SDK sends a key of its own. Without a key every request is a new refill.
    let asked = || sim.requests().iter().filter(|r| r.action == "refill").count();
    let before = asked();
    let keyed = || refill(&done).header("X-Idempotency-Key", "refill-once");
    let first = keyed().send().await;
    assert_eq!(
        (first.status, first.header("idempotent-replayed")),
        (200, None),
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let retried = keyed().send().await;
    assert_eq!((retried.status, retried.header("idempotent-replayed")), (200, Some("true")));
    assert_eq!(retried.json().unwrap()["refill"], first.json().unwrap()["refill"]);
    assert_eq!(asked(), before + 1, "the provider was asked once");
    let long_key = "k".repeat(300);
    for bad in [long_key.as_str(), ""] {
        assert_error(&refill(&done).header("X-Idempotency-Key", bad).send().await, 400, "invalid_idempotency_key");
    }
    let via_sdk = account.client().refill_order(done.as_str(), None).await.unwrap();
    assert_ne!(via_sdk.id, first.json().unwrap()["refill"]["id"].as_i64().unwrap());
    assert_eq!(refill(&done).send().await.status, 200);
    assert_eq!(asked(), before + 3);
    worker.stop().await;
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

/// A worker that claimed an order and then went silent (crashed, or stalled past its lease):
/// the next claim round sends the order to review, never to a second submission; an answer the
/// silent worker records afterwards is kept for the operator but decides nothing.
async fn an_expired_claim_goes_to_review_and_a_late_answer_is_only_noted(backend: Backend) {
    let Shop { server, sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let id = place(&account, service.id, 1000).await;

    let claimed = server.store.claim_submissions(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(claimed.orders.iter().map(|o| &o.id).collect::<Vec<_>>(), vec![&id]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another worker's round: nothing to send, the stale claim goes to review.
    assert!(server.store.claim_submissions(10, Duration::from_secs(60)).await.unwrap().orders.is_empty());
    let reviewed = order(&server, &id).await;
    assert_eq!(
        (reviewed.upstream, reviewed.status, reviewed.refunded.0),
        (Upstream::NeedsReview, OrderStatus::Pending, 0)
    );

    let late = server
        .store
        .record_submission(&id, claimed.until, kassa_store::Submission::Accepted { provider_order_id: "555".into() }, 0)
        .await
        .unwrap();
    assert_eq!(
        (late.upstream, late.status, late.provider_order_id.as_deref()),
        (Upstream::NeedsReview, OrderStatus::Pending, Some("555"))
    );
    let note = late.last_error.as_deref().unwrap_or_default();
    assert!(note.contains("after its claim ended") && note.contains("555"), "{note:?}");
    assert!(note.contains(reviewed.last_error.as_deref().unwrap()), "the reason for the review is kept: {note:?}");
    assert!(sim.requests().iter().all(|r| r.action != "add"), "nothing was sent by anyone");
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

/// Refills of one order under one idempotency key, sent at once to two nodes of one database
/// while the provider is slow to answer: the provider is asked once, every other request is told
/// to retry, and a retry afterwards gets the refill that was asked for.
async fn a_refill_key_asks_the_provider_once_across_nodes(backend: Backend) {
    let Shop { server, sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let done = completed(&server, &account, service.id).await;
    // The first refill to reach the provider waits two seconds for its answer.
    sim.control(Control { faults: HashMap::from([("refill".into(), vec![Fault::Slow])]), ..Default::default() });
    let second = server.second_node().await;
    let accounts = [account.clone(), Account { base_url: second.base_url.clone(), ..account.clone() }];
    let refill = |account: &Account| refill_request(account, &done).header("X-Idempotency-Key", "one-refill");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let request = refill(&accounts[i % 2]);
            tokio::spawn(async move { request.send().await })
        })
        .collect();
    let mut asked = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            200 => asked.push(answer.json().unwrap()["refill"].clone()),
            409 => assert_eq!(answer.json().unwrap()["error"], "customer_wallet_locked"),
            other => panic!("unexpected HTTP {other}: {}", String::from_utf8_lossy(&answer.body)),
        }
    }
    assert_eq!(asked.len(), 1, "one request asked, the others were told to retry: {asked:?}");
    let refills = sim.requests().iter().filter(|r| r.action == "refill").count();
    assert_eq!(refills, 1, "the provider was asked once");
    for account in &accounts {
        let retried = refill(account).send().await;
        assert_eq!((retried.status, retried.header("idempotent-replayed")), (200, Some("true")));
        assert_eq!(retried.json().unwrap()["refill"], asked[0]);
    }
    assert_eq!(sim.requests().iter().filter(|r| r.action == "refill").count(), 1);
}

/// A client that gives up while the provider is slow (its timeout, a dropped connection) does
/// not take the refill's recording with it: the provider's answer is recorded under the key,
/// and the retry answers it instead of waiting out the lease and asking again.
async fn a_refill_whose_client_left_is_still_recorded_under_its_key(backend: Backend) {
    let Shop { server, sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let done = completed(&server, &account, service.id).await;
    sim.control(Control { faults: HashMap::from([("refill".into(), vec![Fault::Slow])]), ..Default::default() });
    let refill = || refill_request(&account, &done).header("X-Idempotency-Key", "impatient");
    let gave_up = tokio::time::timeout(Duration::from_millis(300), refill().send()).await;
    assert!(gave_up.is_err(), "the provider answers after 2 s");

    let replayed = eventually(WAIT, "the refill recorded under its key", || async {
        let retried = refill().send().await;
        (retried.status == 200).then_some(retried)
    })
    .await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.json().unwrap()["refill"]["status"], "requested");
    assert_eq!(sim.requests().iter().filter(|r| r.action == "refill").count(), 1, "the provider was asked once");
}

/// A reservation whose request died before the provider's answer was recorded holds its key
/// only until it is stale, then the next request under the key takes it over; the request that
/// stalled can then neither settle nor give back the reservation it lost. A refill the provider
/// refused gives its key back, so a retry asks again; one whose answer was lost is recorded as
/// pending for an operator and never asked again.
async fn a_refill_reservation_is_taken_over_once_stale_and_given_back_when_refused(backend: Backend) {
    let Shop { server, sim, service, account } = Shop::open(backend, quick_simulator().await, "1.00").await;
    let done = completed(&server, &account, service.id).await;
    let store = &server.store;
    let minute = Duration::from_secs(60);

    let RefillReservation::Reserved(first) = store.reserve_refill(&done, "crashed", minute).await.unwrap() else {
        panic!("a new key is reserved");
    };
    assert_eq!((first.status.as_str(), first.provider_refill_id.as_deref()), ("requesting", None));
    assert_eq!(store.reserve_refill(&done, "crashed", minute).await.unwrap(), RefillReservation::Busy);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let RefillReservation::Reserved(taken) =
        store.reserve_refill(&done, "crashed", Duration::from_millis(10)).await.unwrap()
    else {
        panic!("a stale reservation is taken over");
    };
    assert_eq!(taken.id, first.id);
    assert_ne!(taken.hold(), first.hold(), "a takeover is a new hold on the same row");
    // The request that stalled gives up: the reservation is the other request's now and stays.
    store.release_refill(first.hold()).await.unwrap();
    assert_eq!(store.reserve_refill(&done, "crashed", minute).await.unwrap(), RefillReservation::Busy);
    let settled = store.settle_refill(taken.hold(), Some("71".into()), "requested").await.unwrap();
    assert_eq!((settled.status.as_str(), settled.provider_refill_id.as_deref()), ("requested", Some("71")));
    // The request that stalled answers after all: the key keeps the refill recorded under it (the
    // server records the late one without the key, since the provider took it).
    let late = store.settle_refill(first.hold(), Some("70".into()), "requested").await.unwrap_err();
    assert!(matches!(late, StoreError::NotFound(_)), "{late:?}");
    assert_eq!(store.reserve_refill(&done, "crashed", minute).await.unwrap(), RefillReservation::Earlier(settled));
    // A reservation given back is gone: settling it says so.
    let RefillReservation::Reserved(given_back) = store.reserve_refill(&done, "given-back", minute).await.unwrap()
    else {
        panic!("a new key is reserved");
    };
    store.release_refill(given_back.hold()).await.unwrap();
    let gone = store.settle_refill(given_back.hold(), Some("72".into()), "requested").await.unwrap_err();
    assert!(matches!(gone, StoreError::NotFound(_)), "{gone:?}");

    // Over HTTP: the provider refuses the first refill under a key; the key is free again.
    let asked = || sim.requests().iter().filter(|r| r.action == "refill").count();
    let refuse =
        |fault| sim.control(Control { faults: HashMap::from([("refill".into(), vec![fault])]), ..Default::default() });
    refuse(Fault::Refuse);
    let refill = |key: &'static str| refill_request(&account, &done).header("X-Idempotency-Key", key);
    assert_error(&refill("refused-first").send().await, 409, "order_not_refillable");
    let retried = refill("refused-first").send().await;
    assert_eq!((retried.status, retried.header("idempotent-replayed")), (200, None));
    assert_eq!(retried.json().unwrap()["refill"]["status"], "requested");
    assert_eq!(asked(), 2, "asked again after the refusal");

    // The provider acts on the refill but its answer is lost (HTTP 500): it may hold the refill,
    // so it is recorded as pending for an operator, and a retry answers that instead of asking.
    refuse(Fault::Error);
    let lost = refill("answer-lost").send().await;
    assert_eq!((lost.status, lost.header("idempotent-replayed")), (200, None));
    let pending = lost.json().unwrap()["refill"].clone();
    assert_eq!(pending["status"], "pending");
    let replayed = refill("answer-lost").send().await;
    assert_eq!((replayed.status, replayed.header("idempotent-replayed")), (200, Some("true")));
    assert_eq!(replayed.json().unwrap()["refill"], pending);
    assert_eq!(asked(), 3, "a refill whose answer was lost is not asked for again");

    // An operator checks with the provider and closes it; a retry under the key shows how it
    // ended (and fits openapi.json).
    let id = pending["id"].as_i64().unwrap();
    assert_eq!(store.close_refill(id, "completed").await.unwrap().status, "completed");
    let replayed = refill("answer-lost").send().await;
    assert_eq!((replayed.status, replayed.header("idempotent-replayed")), (200, Some("true")));
    assert_eq!(replayed.json().unwrap()["refill"]["status"], "completed");
}
