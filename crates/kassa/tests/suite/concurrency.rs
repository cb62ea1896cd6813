//! Many clients, one wallet: no overdraft, no double charge, no lost order. Many keys at once:
//! every request is answered for its own key.

use kassa_core::catalog::ServiceKind;
use serde_json::json;

use crate::backend_tests;
use crate::support::{assert_error, Backend, TestServer};

backend_tests!(
    two_hundred_orders_on_a_wallet_for_fifty,
    fifty_requests_share_one_idempotency_key,
    concurrent_requests_of_many_keys_each_see_their_own_wallet,
    concurrent_posts_of_one_ledger_reference_post_once_and_all_replay
);

async fn two_hundred_orders_on_a_wallet_for_fifty(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("50.00").await;
    let signer = account.signer();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let signer = signer.clone();
            let body = json!({"service_id": service.id, "quantity": 1000, "link": format!("https://x/{i}")});
            tokio::spawn(async move { signer.order(&body, &format!("key-{i}")).send().await })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for task in tasks {
        let response = task.await.unwrap();
        match response.status {
            201 => created += 1,
            402 => {
                assert_eq!(response.json().unwrap()["error"], "insufficient_wallet_balance");
                refused += 1
            }
            other => panic!("unexpected HTTP {other}: {}", String::from_utf8_lossy(&response.body)),
        }
    }
    assert_eq!((created, refused), (50, 150));
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 0);
    let page = account.client().orders(1, 100, None).await.unwrap();
    assert_eq!(page.total, 50);
    let books = server.store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");
    assert_eq!(books.orders, 50);
}

async fn fifty_requests_share_one_idempotency_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("50.00").await;
    let signer = account.signer();
    let body = json!({"service_id": service.id, "quantity": 1000, "link": "https://x"});
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let signer = signer.clone();
            let body = body.clone();
            tokio::spawn(async move { signer.order(&body, "shared-key").send().await })
        })
        .collect();
    let mut bodies = Vec::new();
    let mut locked = 0;
    for task in tasks {
        let response = task.await.unwrap();
        match (response.status, response.json().unwrap()["error"].as_str()) {
            (201, None) => bodies.push((response.replayed(), response.body.clone())),
            (409, Some("customer_wallet_locked")) => {
                assert!(response.header("retry-after").is_some());
                locked += 1
            }
            (status, code) => panic!("unexpected HTTP {status} {code:?}"),
        }
    }
    let originals = bodies.iter().filter(|(replayed, _)| !replayed).count();
    assert_eq!(originals, 1, "exactly one request created the order");
    assert!(bodies.windows(2).all(|w| w[0].1 == w[1].1), "every success shows the same order");
    assert_eq!(bodies.len() + locked, 50);
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 4900, "one debit");
    let books = server.store.audit_books().await.unwrap();
    assert_eq!((books.orders, books.is_balanced()), (1, true), "{books:?}");
}

/// PostgreSQL answers the key lookups of concurrent requests with one query per batch: no
/// request may get another's key, balance or refusal, and a revoked or unknown key in the same
/// batch is refused while its neighbours pass.
async fn concurrent_requests_of_many_keys_each_see_their_own_wallet(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut accounts = Vec::new();
    for i in 0..30 {
        accounts.push(server.customer(&format!("{i}.{:02}", i % 100)).await);
    }
    let revoked = &accounts[7];
    server.store.set_api_key_status(&revoked.key.api_key, kassa_store::KeyStatus::Revoked).await.unwrap();
    let tasks: Vec<_> = (0..600)
        .map(|n| {
            let (i, account) = (n % accounts.len(), accounts[n % accounts.len()].clone());
            tokio::spawn(async move {
                let mut request = account.signer().get("/api/v1/balance");
                if n % 50 == 0 {
                    request = request.api_key("bs_live_nosuchkey");
                }
                (n, i, request.send().await)
            })
        })
        .collect();
    for task in tasks {
        let (n, i, response) = task.await.unwrap();
        if n % 50 == 0 || i == 7 {
            assert_error(&response, 401, "invalid_api_key");
            continue;
        }
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        let body = response.json().unwrap();
        assert_eq!(body["woo_customer_id"], accounts[i].customer.0);
        let expected = format!(r#""balance":{i}.{:02}"#, i % 100);
        assert!(String::from_utf8_lossy(&response.body).contains(&expected), "{expected} in {body}");
    }
}

/// An operator's retried top-up can race the original (a CLI run twice, a script retrying on a
/// timeout): every post of the same reference answers the one entry, and the wallet moves once.
async fn concurrent_posts_of_one_ledger_reference_post_once_and_all_replay(backend: Backend) {
    use kassa_core::Minor;
    use kassa_store::{LedgerKind, NewLedgerEntry};

    let server = TestServer::start(backend).await;
    let account = server.customer("1.00").await;
    let posts: Vec<_> = (0..16)
        .map(|_| {
            let store = server.store.clone();
            let entry = NewLedgerEntry {
                customer_id: account.customer,
                kind: LedgerKind::Topup,
                amount: Minor(250),
                reference: "raced-top-up".into(),
                note: None,
            };
            tokio::spawn(async move { store.post_ledger_entry(entry).await })
        })
        .collect();
    let mut ids = Vec::new();
    for post in posts {
        ids.push(post.await.unwrap().expect("every post answers the entry").entry.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one entry: {ids:?}");
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance, Minor(350));
    assert!(server.store.audit_books().await.unwrap().is_balanced());
}

/// An operator enables a key while another revokes it: the enable waited for the revoke's row
/// lock and must then see the revoke, not write `active` over it (a revoked key stays revoked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_enable_racing_a_revoke_leaves_the_key_revoked() {
    use kassa_store::{KeyStatus, StoreError};

    let server = TestServer::start(Backend::Postgres).await;
    let account = server.customer("1.00").await;
    let api_key = account.key.api_key.clone();
    let (revoker, connection) = tokio_postgres::connect(&server.db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    revoker
        .batch_execute(&format!("BEGIN; UPDATE api_keys SET status = 'revoked' WHERE api_key = '{api_key}'"))
        .await
        .unwrap();
    let enable = {
        let (store, api_key) = (server.store.clone(), api_key.clone());
        tokio::spawn(async move { store.set_api_key_status(&api_key, KeyStatus::Active).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!enable.is_finished(), "the enable waits for the revoke's row lock");
    revoker.batch_execute("COMMIT").await.unwrap();
    let enabled = enable.await.unwrap();
    assert!(matches!(enabled, Err(StoreError::Invalid(_))), "{enabled:?}");
    let keys = server.store.list_api_keys(Some(account.customer)).await.unwrap();
    assert_eq!(keys.iter().map(|k| k.status).collect::<Vec<_>>(), vec![KeyStatus::Revoked]);
}
