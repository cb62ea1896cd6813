//! Fulfilment and webhooks end to end with the real binary: `kassa provider-sim`, the admin
//! CLI's provider, service and webhook commands, and `kassa serve` running the worker.

use std::time::Duration;

use kassa_client::CreateOrderRequest;
use serde_json::Value;

use crate::support::fulfilment::eventually;
use crate::support::process::{KassaEnv, KassaProcess};
use crate::support::receiver::Receiver;
use crate::support::{Backend, TestDb};

/// An order of `quantity` of `service`, as the client sends it.
fn order_of(service: i64, quantity: u64) -> CreateOrderRequest {
    CreateOrderRequest {
        service_id: service,
        quantity,
        link: "https://x".into(),
        client_order_ref: None,
        custom_comments: None,
    }
}

crate::backend_tests!(
    an_order_flows_through_provider_sim_with_the_cli_and_webhooks,
    an_operator_cannot_refund_an_order_its_provider_holds_by_accident,
    an_operator_dismisses_the_review_of_a_settled_order_only,
    an_operator_lists_and_closes_the_refills_of_a_manual_service,
);

async fn an_order_flows_through_provider_sim_with_the_cli_and_webhooks(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let sim = KassaProcess::spawn(
        &env,
        &["provider-sim", "--listen", "127.0.0.1:0", "--pending-secs", "0", "--in-progress-secs", "0"],
        "provider-sim listening on ",
        None,
    );

    let provider = env.json(&["admin", "provider", "add", "--name", "sim", "--url", &sim.base_url, "--key", "sim-key"]);
    assert_eq!((provider["name"].as_str(), provider["kind"].as_str()), (Some("sim"), Some("smm-v2")));
    assert_eq!(env.json(&["admin", "provider", "list"])["providers"].as_array().map(Vec::len), Some(1));
    let catalogue = env.json(&["admin", "provider", "services", "sim"]);
    assert_eq!(catalogue["services"].as_array().map(Vec::len), Some(3), "{catalogue}");
    assert_eq!(env.json(&["admin", "provider", "balance", "sim"])["balance"].as_str(), Some("1000.00"));

    let seeded = env.seed("10.00", "1.00", 100_000);
    let service = seeded.service.to_string();
    let mapped = env.json(&[
        "admin",
        "service",
        "update",
        &service,
        "--provider",
        "sim",
        "--provider-service",
        "1",
        "--cancel-allowed",
        "true",
    ]);
    assert_eq!(mapped["id"].as_i64(), Some(seeded.service));

    let receiver = Receiver::start(&[], 200).await;
    let hook = env.json(&[
        "admin",
        "webhook",
        "add",
        "--customer",
        &seeded.customer.to_string(),
        "--url",
        &receiver.url,
        "--allow-private",
    ]);
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));

    let node = env.serve(&[
        "--worker-tick-ms",
        "50",
        "--poll-interval-ms",
        "100",
        "--webhook-allow-private",
        "--webhook-schedule",
        "0s,1s",
    ]);
    let client = seeded.client(&node.base_url);
    let placed = client.create_order(&order_of(seeded.service, 500), None).await.unwrap();
    let done = eventually(Duration::from_secs(20), "the order to complete", || async {
        let order = client.order(&placed.order.id).await.unwrap();
        (order.status == "completed").then_some(order)
    })
    .await;
    assert_eq!(done.smm_status.as_deref(), Some("Completed"));

    // pending → processing → completed: two status events delivered, and logged.
    eventually(Duration::from_secs(10), "two webhook deliveries", || async {
        (receiver.received().len() >= 2).then_some(())
    })
    .await;
    let deliveries = env.json(&["admin", "webhook", "deliveries", "--status", "delivered"]);
    let statuses: Vec<&str> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["payload"]["data"]["order"]["status"].as_str())
        .collect();
    assert!(statuses.contains(&"processing") && statuses.contains(&"completed"), "{deliveries}");
    let first: i64 = deliveries["deliveries"][0]["id"].as_i64().unwrap();
    let replayed = env.json(&["admin", "webhook", "replay", &first.to_string()]);
    assert_eq!(replayed["state"].as_str(), Some("pending"));
    eventually(Duration::from_secs(10), "the replay to arrive", || async {
        (receiver.received().len() >= 3).then_some(())
    })
    .await;

    let orders = env.json(&["admin", "order", "list", "--status", "needs_review"]);
    assert_eq!(orders["total"].as_u64(), Some(0));
    let listed: Value = env.json(&["admin", "order", "show", &placed.order.id]);
    assert_eq!(listed["status"].as_str(), Some("completed"));
    drop(node);
    drop(sim);
}

/// `kassa admin order cancel` (or `partial`) on an order its provider has would pay for a
/// delivery that still happens: it is refused unless the operator confirms.
async fn an_operator_cannot_refund_an_order_its_provider_holds_by_accident(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let sim = KassaProcess::spawn(
        &env,
        &["provider-sim", "--listen", "127.0.0.1:0", "--pending-secs", "600"],
        "provider-sim listening on ",
        None,
    );
    env.json(&["admin", "provider", "add", "--name", "sim", "--url", &sim.base_url, "--key", "sim-key"]);
    let seeded = env.seed("10.00", "1.00", 100_000);
    let service = seeded.service.to_string();
    env.json(&["admin", "service", "update", &service, "--provider", "sim", "--provider-service", "1"]);
    let node = env.serve(&["--worker-tick-ms", "50", "--poll-interval-ms", "100"]);
    let client = seeded.client(&node.base_url);
    let request = order_of(seeded.service, 500);
    let placed = client.create_order(&request, None).await.unwrap();
    let id = placed.order.id.clone();
    eventually(Duration::from_secs(20), "the provider to take the order", || async {
        let order = env.json(&["admin", "order", "show", &id]);
        (order["upstream"].as_str() == Some("submitted")).then_some(())
    })
    .await;

    for refund in [&["cancel"][..], &["partial", "--remains", "100"][..]] {
        let refused = env.run(&[&["admin", "order"][..], refund, &[&id]].concat());
        assert!(!refused.status.success());
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains("holds it as order") && said.contains("--confirm"), "{refund:?}: {said}");
        assert_eq!(env.json(&["admin", "order", "show", &id])["refunded"].as_f64(), Some(0.0));
    }

    let canceled = env.json(&["admin", "order", "cancel", &id, "--confirm"]);
    assert_eq!((canceled["status"].as_str(), canceled["refunded"].as_f64()), (Some("canceled"), Some(0.5)));
    drop(node);
    drop(sim);
}

/// `kassa admin order dismiss` closes a review without moving money, so it refuses an order the
/// customer paid for and did not get (that one is attached, requeued or canceled), and closes the
/// review of a refunded one (say its provider reported a delivery after we refunded it).
async fn an_operator_dismisses_the_review_of_a_settled_order_only(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let seeded = env.seed("10.00", "1.00", 100_000);
    let node = env.serve(&[]);
    let client = seeded.client(&node.base_url);
    let id = client.create_order(&order_of(seeded.service, 1000), None).await.unwrap().order.id;
    drop(node);
    let to_review =
        format!("UPDATE orders SET upstream = 'needs_review', last_error = 'checked by hand' WHERE id = '{id}'");
    db.execute_sql(&to_review).await;

    let refused = env.run(&["admin", "order", "dismiss", &id]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("paid for") && said.contains("cancel"), "{said}");
    let unchanged = env.json(&["admin", "order", "show", &id]);
    assert_eq!((unchanged["upstream"].as_str(), unchanged["status"].as_str()), (Some("needs_review"), Some("pending")));

    let canceled = env.json(&["admin", "order", "cancel", &id, "--confirm"]);
    assert_eq!(canceled["refunded"].as_f64(), Some(1.0));
    db.execute_sql(&to_review).await;
    let dismissed = env.json(&["admin", "order", "dismiss", &id]);
    assert_eq!(
        (dismissed["upstream"].as_str(), dismissed["status"].as_str(), dismissed["refunded"].as_f64()),
        (Some("closed"), Some("canceled"), Some(1.0)),
        "{dismissed}"
    );
    assert_eq!(dismissed["last_error"].as_str(), Some("checked by hand"), "the note stays: {dismissed}");
    let wallet = env.json(&["admin", "wallet", "show", "--customer", &seeded.customer.to_string()]);
    assert_eq!(wallet["balance"].as_f64(), Some(10.0), "dismissing moved no money: {wallet}");
    let second = env.run(&["admin", "order", "dismiss", &id]);
    assert!(!second.status.success(), "a closed review is not dismissed twice");
}

/// A manual service's refill requests wait for an operator: `kassa admin refill list` finds them
/// and `kassa admin refill close` records the outcome, once.
async fn an_operator_lists_and_closes_the_refills_of_a_manual_service(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let seeded = env.seed("10.00", "1.00", 100_000);
    env.json(&["admin", "service", "update", &seeded.service.to_string(), "--refill-allowed", "true"]);
    let node = env.serve(&["--no-worker"]);
    let client = seeded.client(&node.base_url);
    let request = order_of(seeded.service, 1000);
    let mut orders = Vec::new();
    for _ in 0..2 {
        let id = client.create_order(&request, None).await.unwrap().order.id;
        env.json(&["admin", "order", "set-status", &id, "completed"]);
        orders.push(id);
    }
    let first = client.refill_order(&orders[0], None).await.unwrap();
    let second = client.refill_order(&orders[1], None).await.unwrap();
    assert_eq!((first.status.as_str(), second.status.as_str()), ("pending", "pending"));

    let pending = env.json(&["admin", "refill", "list", "--status", "pending"]);
    let ids: Vec<i64> = pending["refills"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![second.id, first.id], "newest first: {pending}");
    let of_first = env.json(&["admin", "refill", "list", "--order", &orders[0]]);
    assert_eq!(of_first["refills"].as_array().map(Vec::len), Some(1), "{of_first}");
    assert_eq!(of_first["refills"][0]["order_id"].as_str(), Some(orders[0].as_str()));

    let closed = env.json(&["admin", "refill", "close", &first.id.to_string(), "--status", "completed"]);
    assert_eq!((closed["id"].as_i64(), closed["status"].as_str()), (Some(first.id), Some("completed")));
    for (args, says) in [
        (
            vec!["admin", "refill", "close", &first.id.to_string(), "--status", "rejected"],
            "only a pending or requested",
        ),
        (vec!["admin", "refill", "close", &second.id.to_string(), "--status", "done"], "completed or rejected"),
        (vec!["admin", "refill", "close", "999999", "--status", "completed"], "refill 999999"),
        (vec!["admin", "refill", "list", "--status", "done"], "unknown refill status"),
    ] {
        let refused = env.run(&args);
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success() && said.contains(says), "{args:?}: {said}");
    }
    let left = env.json(&["admin", "refill", "list", "--status", "pending"]);
    let ids: Vec<i64> = left["refills"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![second.id], "a refused close changed nothing: {left}");
    drop(node);
}
