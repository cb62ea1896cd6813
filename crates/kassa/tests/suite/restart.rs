//! The real binary: a restart, clean or by `kill -9`, keeps every acknowledged order and balance.

use kassa_client::CreateOrderRequest;

use crate::support::process::KassaEnv;
use crate::support::{Backend, TestDb};

crate::backend_tests!(acknowledged_orders_survive_a_crash_and_a_restart);

async fn acknowledged_orders_survive_a_crash_and_a_restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let seeded = env.seed("100.00", "1.00", 100_000);
    let service = seeded.service;

    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let server = env.serve(&[]);
        let client = seeded.client(&server.base_url);
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
    let client = seeded.client(&server.base_url);
    for id in &acknowledged {
        assert_eq!(client.order(id).await.unwrap().charge.to_string(), "1.00", "order {id} survived");
    }
    assert_eq!(client.balance().await.unwrap().balance.to_string(), "70.00");
    assert_eq!(client.orders(1, 100, None).await.unwrap().total, 30);
    let books = env.json(&["admin", "books"]);
    assert_eq!(books["balanced"], true, "{books}");
}
