//! The real binary: a restart, clean or by `kill -9`, keeps every acknowledged order and balance.

use kassa_client::{Client, CreateOrderRequest, RetryPolicy};

use crate::support::process::KassaEnv;
use crate::support::{Backend, TestDb};

crate::backend_tests!(acknowledged_orders_survive_a_crash_and_a_restart);

async fn acknowledged_orders_survive_a_crash_and_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    env.run(&["migrate"]);
    let customer = env.json(&["admin", "customer", "create", "--email", "crash@example.com"])["id"].as_i64().unwrap();
    env.json(&["admin", "wallet", "credit", "--customer", &customer.to_string(), "--amount", "100.00"]);
    let service = env.json(&[
        "admin",
        "service",
        "create",
        "--name",
        "S",
        "--category",
        "C",
        "--type",
        "default",
        "--price-per-1000",
        "1.00",
        "--min",
        "1",
        "--max",
        "100000",
    ])["id"]
        .as_i64()
        .unwrap();
    let key = env.json(&["admin", "key", "create", "--customer", &customer.to_string()]);
    let (api_key, secret) =
        (key["api_key"].as_str().unwrap().to_string(), key["api_secret"].as_str().unwrap().to_string());

    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let server = env.serve(&[]);
        let client = Client::with_retry(&server.base_url, &api_key, &secret, RetryPolicy::none()).unwrap();
        for i in 0..10 {
            let placed = client
                .create_order(
                    &CreateOrderRequest {
                        service_id: service,
                        quantity: 1000,
                        link: format!("https://x/{round}/{i}"),
                        client_order_ref: None,
                        custom_comments: None,
                    },
                    None,
                )
                .await
                .unwrap();
            acknowledged.push(placed.order.id);
        }
        for id in &acknowledged {
            assert_eq!(client.order(id).await.unwrap().id, *id);
        }
        // Round 0 and 2 crash, round 1 stops cleanly.
        if round == 1 {
            assert!(server.terminate().success(), "SIGTERM stops kassa cleanly");
        } else {
            server.kill();
        }
    }
    let server = env.serve(&[]);
    let client = Client::with_retry(&server.base_url, &api_key, &secret, RetryPolicy::none()).unwrap();
    for id in &acknowledged {
        assert_eq!(client.order(id).await.unwrap().charge.to_string(), "1.00", "order {id} survived");
    }
    assert_eq!(client.balance().await.unwrap().balance.to_string(), "70.00");
    assert_eq!(client.orders(1, 100, None).await.unwrap().total, 30);
    let books = env.json(&["admin", "books"]);
    assert_eq!(books["balanced"], true, "{books}");
}
