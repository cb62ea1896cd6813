//! Several `kassa serve` processes on one PostgreSQL: no overdraft, one order per key, one rate
//! limit per key with Redis, and outages of PostgreSQL and Redis survived.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::process::KassaEnv;
use crate::support::services::{redis_url, OwnPostgres, OwnRedis};
use crate::support::{Backend, TestDb, TestServer};

async fn postgres_env() -> (TestDb, KassaEnv) {
    let db = TestDb::new(Backend::Postgres).await;
    let env = KassaEnv::for_db(&db);
    (db, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_never_overdraw_one_wallet() {
    let (_db, env) = postgres_env().await;
    let seeded = env.seed("100.00", "1.00", 1_000_000);
    let nodes = [env.serve(&[]), env.serve(&[])];
    let signers = [seeded.signer(&nodes[0].base_url), seeded.signer(&nodes[1].base_url)];
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let signer = signers[i % 2].clone();
            let body = json!({"service_id": seeded.service, "quantity": 1000, "link": format!("https://x/{i}")});
            tokio::spawn(async move { signer.order(&body, &format!("k-{i}")).send().await.status })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        *statuses.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses, [(201, 100), (402, 300)].into_iter().collect(), "exactly 100 orders of 1.00 on 100.00");
    let balance = seeded.client(&nodes[1].base_url).balance().await.unwrap();
    assert_eq!(balance.balance.to_string(), "0.00");
    let books = env.json(&["admin", "books"]);
    assert_eq!((books["balanced"].as_bool(), books["orders"].as_u64()), (Some(true), Some(100)), "{books}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_race_one_idempotency_key() {
    let (_db, env) = postgres_env().await;
    let seeded = env.seed("100.00", "1.00", 1_000_000);
    let nodes = [env.serve(&[]), env.serve(&[])];
    let signers = [seeded.signer(&nodes[0].base_url), seeded.signer(&nodes[1].base_url)];
    let body = json!({"service_id": seeded.service, "quantity": 1000, "link": "https://x"});
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let signer = signers[i % 2].clone();
            let body = body.clone();
            tokio::spawn(async move { signer.order(&body, "one-key").send().await })
        })
        .collect();
    let mut originals = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let response = task.await.unwrap();
        match response.status {
            201 => {
                originals += usize::from(!response.replayed());
                ids.insert(response.json().unwrap()["order"]["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(response.json().unwrap()["error"], "customer_wallet_locked"),
            other => panic!("unexpected HTTP {other}: {}", String::from_utf8_lossy(&response.body)),
        }
    }
    assert_eq!((originals, ids.len()), (1, 1), "one order, every success shows it");
    let balance = seeded.client(&nodes[0].base_url).balance().await.unwrap();
    assert_eq!(balance.balance.to_string(), "99.00", "one debit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_race_one_client_order_ref() {
    let (_db, env) = postgres_env().await;
    let seeded = env.seed("100.00", "1.00", 1_000_000);
    let nodes = [env.serve(&[]), env.serve(&[])];
    let signers = [seeded.signer(&nodes[0].base_url), seeded.signer(&nodes[1].base_url)];
    // Forty different requests (own idempotency key, own link) that share one client_order_ref.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let signer = signers[i % 2].clone();
            let body = json!({"service_id": seeded.service, "quantity": 1000, "link": format!("https://x/{i}"),
                "client_order_ref": "shared-ref"});
            tokio::spawn(async move { signer.order(&body, &format!("key-{i}")).send().await })
        })
        .collect();
    let (mut created, mut refused) = (0, 0);
    for task in tasks {
        let response = task.await.unwrap();
        match response.status {
            201 => created += 1,
            409 => {
                assert_eq!(response.json().unwrap()["error"], "duplicate_order");
                refused += 1;
            }
            other => panic!("unexpected HTTP {other}: {}", String::from_utf8_lossy(&response.body)),
        }
    }
    assert_eq!((created, refused), (1, 39), "one order holds the reference");
    let balance = seeded.client(&nodes[0].base_url).balance().await.unwrap();
    assert_eq!(balance.balance.to_string(), "99.00", "one debit");
}

/// Another node has written an order for the same idempotency key and not yet committed it
/// when this node places its own. This node's order waits for the other's wallet lock, runs into
/// the unique index once the other commits, is answered `race` inside its batch and placed again,
/// where it finds the other node's order and is refused as a reuse of its key: one order, one
/// debit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_order_racing_another_nodes_uncommitted_order_for_its_key() {
    let server = TestServer::start(Backend::Postgres).await;
    let service = server.service(kassa_core::catalog::ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let (other, connection) = tokio_postgres::connect(&server.db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    other.batch_execute("BEGIN").await.unwrap();
    let version: i64 =
        other.query_one("SELECT updated_at FROM services WHERE id = $1", &[&service.id]).await.unwrap().get(0);
    let item = json!([{
        "customer_id": account.customer.0, "key": "race-key", "fingerprint": "00", "service_id": service.id,
        "service_version": version, "service_name": "the other node's", "price_per_1000": "1.00",
        "quantity": 1000, "link": "https://other", "charge": 100, "order_id": "BSAPI-OTHERNODE001",
        "status": "pending", "upstream": "manual",
    }]);
    let placed = other.query_one("SELECT outcome FROM kassa_place_orders($1::jsonb, 0)", &[&item]).await.unwrap();
    assert_eq!(placed.get::<_, &str>(0), "created");

    let signer = account.signer();
    let body = json!({"service_id": service.id, "quantity": 1000, "link": "https://this"});
    let placing = tokio::spawn(async move { signer.order(&body, "race-key").send().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!placing.is_finished(), "the order waits for the other node's wallet lock");
    other.batch_execute("COMMIT").await.unwrap();
    let response = placing.await.unwrap();
    assert_eq!(response.status, 409, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.json().unwrap()["error"], "duplicate_order");

    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 900, "only the other node's debit");
    let books = server.store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");
    assert_eq!(books.orders, 1);
}

/// Fires `count` balance requests as fast as possible, alternating between the nodes; returns
/// (successes, rate-limited, seconds taken).
async fn burst(signers: &[crate::support::raw::Signer], count: usize) -> (usize, usize, f64) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let signer = signers[i % signers.len()].clone();
            tokio::spawn(async move { signer.get("/api/v1/balance").send().await.status })
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected HTTP {other}"),
        }
    }
    (ok, limited, started.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_limits_a_key_across_nodes() {
    let (_db, env) = postgres_env().await;
    let seeded = env.seed("0", "1.00", 60);
    let redis = redis_url();
    let nodes = [env.serve(&["--redis-url", &redis]), env.serve(&["--redis-url", &redis])];
    let signers: Vec<_> = nodes.iter().map(|n| seeded.signer(&n.base_url)).collect();
    let (ok, limited, seconds) = burst(&signers, 200).await;
    // GCRA at 60/min: a burst of 60, then one more per second.
    let allowance = 60 + seconds.floor() as usize;
    assert!(ok >= 60 && ok <= allowance, "{ok} successes across both nodes in {seconds:.2}s (allowed {allowance})");
    assert_eq!(ok + limited, 200);

    // The same key without Redis: each node limits alone, so the pair lets through about twice.
    let other = env.seed("0", "1.00", 60);
    let alone = [env.serve(&[]), env.serve(&[])];
    let signers: Vec<_> = alone.iter().map(|n| other.signer(&n.base_url)).collect();
    let (ok_alone, _, _) = burst(&signers, 200).await;
    assert!(ok_alone >= 120, "without Redis each node allows its own 60: {ok_alone}");
}

/// Two deployments sharing one Redis, each with its own database and so with key rows of the same
/// ids, keep their limits apart: the shared state is kept under the API key, not its row id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_sharing_a_redis_keep_their_limits_apart() {
    let with_redis = || crate::support::ServerOptions {
        config: kassa_server::ServerConfig { redis_url: Some(redis_url()), ..Default::default() },
        ..Default::default()
    };
    let one = TestServer::start_with(Backend::Sqlite, with_redis()).await;
    let two = TestServer::start_with(Backend::Sqlite, with_redis()).await;
    let two_a_minute = || crate::support::KeyOptions { rate_limit_per_minute: 2, ..Default::default() };
    let (a, b) = (one.customer_with("0", two_a_minute()).await, two.customer_with("0", two_a_minute()).await);
    assert_eq!(a.key.id, b.key.id, "the same row id in both databases");
    for expected in [200, 200, 429] {
        assert_eq!(a.signer().get("/api/v1/balance").send().await.status, expected);
    }
    assert_eq!(b.signer().get("/api/v1/balance").send().await.status, 200, "the other deployment's key is not limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_outage_keeps_serving_and_warns_once() {
    let (db, env) = postgres_env().await;
    let seeded = env.seed("0", "1.00", 100_000);
    let mut redis = OwnRedis::start();
    let log = db.dir.path().join("node.log");
    let node = env.serve_logged(&["--redis-url", &redis.url()], &log);
    let client = seeded.client(&node.base_url);
    client.balance().await.unwrap();
    redis.stop();
    let started = Instant::now();
    for _ in 0..50 {
        client.balance().await.expect("served while Redis is down");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "a down Redis does not stall requests");
    drop(node);
    let text = std::fs::read_to_string(&log).unwrap();
    let warnings = text.matches("Redis rate limiter unavailable").count();
    assert_eq!(warnings, 1, "warned once, not per request:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers() {
    let postgres = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let env = KassaEnv::migrated_on(&postgres, dir.path(), &[("KASSA_PG_CONNECT_TIMEOUT_MS", "1000")]);
    let seeded = env.seed("100.00", "1.00", 1_000_000);
    let node = env.serve(&[]);
    let signer = seeded.signer(&node.base_url);
    let body = |n: &str| json!({"service_id": seeded.service, "quantity": 1000, "link": format!("https://x/{n}")});
    assert_eq!(signer.order(&body("before"), "before").send().await.status, 201);

    postgres.stop();
    for i in 0..10 {
        let started = Instant::now();
        let response = signer.order(&body("during"), &format!("during-{i}")).send().await;
        assert!(started.elapsed() < Duration::from_secs(5), "no hang: {:?}", started.elapsed());
        assert_eq!(response.status, 503, "{}", String::from_utf8_lossy(&response.body));
        assert_eq!(response.json().unwrap()["error"], "database_unavailable");
        let read = signer.get("/api/v1/balance").send().await;
        assert_eq!((read.status, read.json().unwrap()["error"].as_str()), (503, Some("database_unavailable")));
    }

    postgres.start_again();
    let deadline = Instant::now() + Duration::from_secs(20);
    let recovered = loop {
        let response = signer.order(&body("after"), "after").send().await;
        if response.status == 201 {
            break true;
        }
        assert_eq!(response.status, 503, "only 503s while recovering, never 500");
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(recovered, "kassa serves again once PostgreSQL is back, without a restart");
    let balance = seeded.client(&node.base_url).balance().await.unwrap();
    assert_eq!(balance.balance.to_string(), "98.00", "two orders, nothing charged during the outage");
}

/// A database that hangs (every PostgreSQL process stopped with SIGSTOP: connections open, no
/// answer, no refusal) holds a signed request no longer than the pool wait plus the statement
/// timeout: the batched key lookups are bounded like every other wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_that_hangs_answers_503_within_the_configured_waits() {
    let postgres = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let settings = [("KASSA_PG_ACQUIRE_TIMEOUT_MS", "500"), ("KASSA_PG_STATEMENT_TIMEOUT_MS", "500")];
    let env = KassaEnv::migrated_on(&postgres, dir.path(), &settings);
    let seeded = env.seed("100.00", "1.00", 1_000_000);
    let node = env.serve(&[]);
    let signer = seeded.signer(&node.base_url);
    assert_eq!(signer.get("/api/v1/balance").send().await.status, 200);

    postgres.signal_all("-STOP");
    let started = Instant::now();
    let read = signer.get("/api/v1/balance").send().await;
    let waited = started.elapsed();
    postgres.signal_all("-CONT");
    assert_eq!((read.status, read.json().unwrap()["error"].as_str()), (503, Some("database_unavailable")));
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}, bound is 1 s");

    let deadline = Instant::now() + Duration::from_secs(10);
    while signer.get("/api/v1/balance").send().await.status != 200 {
        assert!(Instant::now() < deadline, "kassa serves again once PostgreSQL answers again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `work` while `lock` (SQL run first, in a transaction of its own) holds it up inside
/// PostgreSQL, stops every PostgreSQL process 300 ms in and resumes them once `work` is done —
/// failing if it takes more than 15 s. Returns what `work` gave and how long it took; the lock is
/// released afterwards.
async fn while_postgres_hangs<T: Send + 'static>(
    postgres: &OwnPostgres,
    lock: &str,
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> (T, Duration) {
    let (locker, connection) = tokio_postgres::connect(&postgres.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    locker.batch_execute(&format!("BEGIN; {lock}")).await.unwrap();
    let started = Instant::now();
    let work = tokio::spawn(work);
    tokio::time::sleep(Duration::from_millis(300)).await;
    postgres.signal_all("-STOP");
    let answer = tokio::time::timeout(Duration::from_secs(15), work).await;
    let waited = started.elapsed();
    postgres.signal_all("-CONT");
    let _ = locker.batch_execute("ROLLBACK").await;
    (answer.expect("work on a hung database gives up, not waits").unwrap(), waited)
}

/// A database that hangs while a request is already past its key lookup — an order waiting to
/// insert, a read waiting to read — answers 503 within twice the statement timeout instead of
/// waiting for the TCP connection to time out, and the order's retry under its key places it at
/// most once however the hung statement ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_that_hangs_mid_request_answers_503_and_the_retry_charges_once() {
    let postgres = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let settings = [("KASSA_PG_ACQUIRE_TIMEOUT_MS", "500"), ("KASSA_PG_STATEMENT_TIMEOUT_MS", "1000")];
    let env = KassaEnv::migrated_on(&postgres, dir.path(), &settings);
    let seeded = env.seed("100.00", "1.00", 1_000_000);
    let node = env.serve(&[]);
    let signer = seeded.signer(&node.base_url);
    let body = json!({"service_id": seeded.service, "quantity": 1000, "link": "https://x"});
    let placed = signer.order(&body, "before").send().await;
    assert_eq!(placed.status, 201);
    let status_path = format!("/api/v1/orders/{}", placed.json().unwrap()["order"]["id"].as_str().unwrap());

    // Both requests get past their key lookup and then wait for this lock inside PostgreSQL;
    // while they wait, every PostgreSQL process stops.
    let requests = {
        let (order, read) = (signer.order(&body, "during").send(), signer.get(&status_path).send());
        async move { tokio::join!(order, read) }
    };
    let ((order, read), waited) =
        while_postgres_hangs(&postgres, "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", requests).await;
    for answer in [&order, &read] {
        assert_eq!((answer.status, answer.json().unwrap()["error"].as_str()), (503, Some("database_unavailable")));
    }
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}; the bound is 2 s");

    // The hung order may or may not have committed when PostgreSQL resumed: its retry replays or
    // places it, and the wallet is charged for it once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let retry = signer.order(&body, "during").send().await;
        if matches!(retry.status, 200 | 201) {
            break;
        }
        assert!(Instant::now() < deadline, "the retry succeeds once PostgreSQL answers: {}", retry.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let balance = seeded.client(&node.base_url).balance().await.unwrap();
    assert_eq!(balance.balance.to_string(), "98.00", "two orders, each charged once");
}

/// The same for a write in a transaction: a top-up waiting for its wallet's row lock when the
/// database stops fails as unavailable within the bound, and its retry under the same reference
/// credits the wallet once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_that_hangs_mid_top_up_fails_within_the_bound_and_the_retry_credits_once() {
    use kassa_core::{CustomerId, Minor};
    use kassa_store::postgres::{PostgresOptions, PostgresStore};
    use kassa_store::{LedgerKind, NewLedgerEntry, Store, StoreError};

    let postgres = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let env = KassaEnv::migrated_on(&postgres, dir.path(), &[]);
    let customer = CustomerId(env.seed("100.00", "1.00", 1_000_000).customer);
    let mut options = PostgresOptions::new(postgres.url());
    options.acquire_timeout = Duration::from_millis(500);
    options.statement_timeout = Duration::from_millis(1000);
    let store = std::sync::Arc::new(PostgresStore::open(options).await.unwrap());
    let top_up = move || NewLedgerEntry {
        customer_id: customer,
        kind: LedgerKind::Topup,
        amount: Minor(500),
        reference: "hung-top-up".into(),
        note: None,
    };

    let writing = {
        let store = store.clone();
        async move { store.post_ledger_entry(top_up()).await }
    };
    let lock = format!("SELECT 1 FROM wallets WHERE customer_id = {} FOR UPDATE", customer.0);
    let (answer, waited) = while_postgres_hangs(&postgres, &lock, writing).await;
    assert!(matches!(answer, Err(StoreError::Unavailable(_))), "{answer:?}");
    assert!(waited < Duration::from_secs(5), "gave up after {waited:?}; the bound is 2 s");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Whether or not the cut-off attempt committed, the retry answers with the one entry.
        match store.post_ledger_entry(top_up()).await {
            Ok(posted) => {
                break assert_eq!((posted.entry.reference.as_str(), posted.entry.amount), ("hung-top-up", Minor(500)))
            }
            Err(error) => assert!(Instant::now() < deadline, "the retry succeeds once PostgreSQL answers: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let entries = store.ledger(customer, 100).await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.reference == "hung-top-up").count(), 1);
    assert_eq!(store.wallet(customer).await.unwrap().balance, Minor(10_500), "credited once");
}

/// A key lookup whose connection stops answering for good (its backend stopped: the connection
/// stays open and nothing comes back, as when a network path drops without a reset) is given up
/// within the answer bound and its connection closed. With a single lookup slot, later lookups
/// used to wait behind the lost one, and fail, for as long as the process ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_key_lookup_lost_on_its_connection_frees_its_slot() {
    use kassa_store::postgres::{PostgresOptions, PostgresStore};
    use kassa_store::{Store, StoreError};

    let postgres = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let env = KassaEnv::migrated_on(&postgres, dir.path(), &[]);
    let seeded = env.seed("100.00", "1.00", 1_000_000);
    let mut options = PostgresOptions::new(postgres.url());
    options.pool_size = 4; // a quarter of it, one connection and one query slot, for key lookups
    options.acquire_timeout = Duration::from_millis(300);
    options.statement_timeout = Duration::from_millis(300);
    let store = PostgresStore::open(options).await.unwrap();
    assert!(store.auth_record(&seeded.api_key).await.unwrap().is_some());

    // The backend that answered: the only one whose last query was the batched lookup.
    let (admin, connection) = tokio_postgres::connect(&postgres.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let backends = admin
        .query("SELECT pid FROM pg_stat_activity WHERE query LIKE '%unnest(%' AND pid <> pg_backend_pid()", &[])
        .await
        .unwrap();
    let pids: Vec<i32> = backends.iter().map(|row| row.get(0)).collect();
    assert_eq!(pids.len(), 1, "lookup backends: {pids:?}");
    struct Stopped(String);
    impl Drop for Stopped {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill").args(["-CONT", &self.0]).status();
        }
    }
    let stopped = Stopped(pids[0].to_string());
    assert!(std::process::Command::new("kill").args(["-STOP", &stopped.0]).status().unwrap().success());

    let lost = store.auth_record(&seeded.api_key).await;
    assert!(matches!(lost, Err(StoreError::Unavailable(_))), "{lost:?}");
    // The bound is twice the statement timeout; then a new connection answers.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match store.auth_record(&seeded.api_key).await {
            Ok(found) => break assert!(found.is_some()),
            Err(error) => assert!(Instant::now() < deadline, "lookups stay stuck behind the lost one: {error}"),
        }
    }
    drop(stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_serve_refuses_an_unmigrated_or_newer_schema() {
    let db = TestDb::new(Backend::Postgres).await;
    let env = KassaEnv::for_db(&db);
    // TestDb migrates; make a second, empty database on the same server.
    let name = format!("kassa_t_empty_{}", kassa_core::ids::random_token(b"abcdefghijklmnopqrstuvwxyz", 10));
    let (admin, connection) =
        tokio_postgres::connect(&crate::support::db::postgres_admin_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let mut empty = env.clone();
    empty.database_url = crate::support::db::with_database(&crate::support::db::postgres_admin_url(), &name);
    let output = empty.run(&["serve", "--listen", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("kassa migrate"), "{stderr}");
    admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();

    let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("INSERT INTO kassa_schema (version, name, applied_at) VALUES (999, 'future', 0)")
        .await
        .unwrap();
    let output = env.run(&["serve", "--listen", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("newer"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_serve_refuses_a_newer_schema() {
    let db = TestDb::new(Backend::Sqlite).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let conn = rusqlite::Connection::open(db.sqlite_path()).unwrap();
    conn.execute_batch("INSERT INTO kassa_schema (version, name, applied_at) VALUES (999, 'future', 0)").unwrap();
    let output = env.run(&["serve", "--listen", "127.0.0.1:0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("newer"), "{stderr}");
}
