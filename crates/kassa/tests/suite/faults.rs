//! Faults of the parts around kassa: a provider that errs, garbles, stalls or hangs up; a disk
//! that fills up under SQLite; PostgreSQL stopped under load or refusing one order of a batch.
//! Each ends with the books intact.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use kassa_core::{OrderId, OrderStatus};
use kassa_provider_sim::{Control, Fault, SimConfig, Simulator};
use kassa_server::fulfilment::WorkerConfig;
use kassa_store::Upstream;
use serde_json::json;

use crate::support::fulfilment::{eventually, quick_simulator, quick_worker, Shop, SIM_KEY};
use crate::support::process::KassaEnv;
use crate::support::services::OwnPostgres;
use crate::support::{Account, Backend, ServerOptions, StoreOptions, TestServer};

crate::backend_tests!(
    provider_faults_on_submission_are_sorted_by_what_they_prove,
    provider_faults_on_polling_delay_but_never_decide,
    a_provider_answer_the_database_cannot_take_yet_is_recorded_when_it_can,
    a_provider_acceptance_the_database_takes_only_after_the_lease_is_kept
);

const WAIT: Duration = Duration::from_secs(15);

async fn place(account: &Account, service: i64) -> OrderId {
    let unique = kassa_core::ids::random_token(b"abcdef0123456789", 16);
    let body = json!({"service_id": service, "quantity": 1000, "link": format!("https://x/{unique}")});
    let response = account.signer().order(&body, &unique).send().await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    response.json().unwrap()["order"]["id"].as_str().unwrap().parse().unwrap()
}

async fn settled(server: &TestServer, id: &OrderId) -> kassa_store::OrderRecord {
    eventually(WAIT, &format!("order {id} to settle upstream"), || async {
        let order = server.store.order(None, id).await.unwrap().unwrap();
        matches!(order.upstream, Upstream::NeedsReview | Upstream::Closed).then_some(order)
    })
    .await
}

async fn provider_faults_on_submission_are_sorted_by_what_they_prove(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sim = quick_simulator().await;
    let service = server.simulated_service(&sim, "1", "1.00").await;
    let account = server.customer("20.00").await;
    let worker = server.worker(quick_worker());
    // One order per fault, one at a time, so each meets its own fault.
    let cases = [
        (Fault::Error, Upstream::NeedsReview),
        (Fault::Malformed, Upstream::NeedsReview),
        (Fault::Timeout, Upstream::NeedsReview),
        (Fault::Reset, Upstream::NeedsReview),
        (Fault::Ok, Upstream::Closed),
    ];
    for (fault, expected) in cases {
        sim.control(Control { faults: HashMap::from([("add".into(), vec![fault])]), ..Default::default() });
        let id = place(&account, service.id).await;
        let order = settled(&server, &id).await;
        assert_eq!(order.upstream, expected, "{fault:?}: {:?}", order.last_error);
        if expected == Upstream::NeedsReview {
            assert_eq!(
                (order.status, order.refunded.0),
                (OrderStatus::Pending, 0),
                "{fault:?}: not refunded automatically"
            );
        } else {
            assert_eq!(order.status, OrderStatus::Completed);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.stop().await;
    let adds = sim.requests().iter().filter(|r| r.action == "add").count();
    assert_eq!(adds, cases.len(), "no order was sent twice");
    let books = server.store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "{books:?}");

    // A slow provider (answers after 200 ms, inside the 500 ms timeout) is just slow.
    let slow = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimConfig {
            key: SIM_KEY.into(),
            pending: Duration::from_millis(50),
            in_progress: Duration::from_millis(50),
            latency: Duration::from_millis(200),
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let slow_provider = server.provider("slow", &slow.url()).await;
    let slow_service = server.provided_service(&slow_provider, "1", "1.00").await;
    let worker = server.worker(quick_worker());
    let id = place(&account, slow_service.id).await;
    let order = settled(&server, &id).await;
    assert_eq!((order.upstream, order.status), (Upstream::Closed, OrderStatus::Completed));
    worker.stop().await;
}

async fn provider_faults_on_polling_delay_but_never_decide(backend: Backend) {
    let sim = quick_simulator().await;
    sim.control(Control {
        faults: HashMap::from([(
            "status".into(),
            vec![Fault::Error, Fault::Malformed, Fault::Reset, Fault::Timeout, Fault::Error],
        )]),
        ..Default::default()
    });
    let Shop { server, sim, service, account } = Shop::open(backend, sim, "1.00").await;
    let worker = server.worker(quick_worker());
    let id = place(&account, service.id).await;
    let order = settled(&server, &id).await;
    worker.stop().await;
    assert_eq!((order.status, order.refunded.0), (OrderStatus::Completed, 0), "failed polls changed nothing");
    let polls = sim.requests().iter().filter(|r| r.action == "status").count();
    assert!(polls >= 6, "the five failed polls were retried: {polls}");
    assert_eq!(sim.requests().iter().filter(|r| r.action == "add").count(), 1);
}

/// Mounts a tmpfs of `megabytes` at `path`; unmounts on drop. Needs root (CI runs as root).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &std::path::Path, megabytes: u32) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root: this test fills a small disk on purpose");
        Self(path.to_path_buf())
    }

    fn resize(&self, megabytes: u32) {
        let status =
            Command::new("mount").args(["-o", &format!("remount,size={megabytes}m")]).arg(&self.0).status().unwrap();
        assert!(status.success(), "remount the tmpfs");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A provider that answers after `latency`, a worker whose claims last `lease`, and the database
/// locked (busy on SQLite, a statement timeout on PostgreSQL) from the order's claim until `locked`
/// after it, then unlocked. Answers the order once `check` finds what it waits for in it, after
/// checking that it was sent once and that the books balance.
async fn answer_while_locked(
    backend: Backend,
    latency: Duration,
    lease: Duration,
    locked: Duration,
    check: fn(&kassa_store::OrderRecord) -> bool,
) -> kassa_store::OrderRecord {
    let options = ServerOptions {
        store: StoreOptions { busy_timeout: Duration::from_millis(200), ..Default::default() },
        ..Default::default()
    };
    let server = TestServer::start_with(backend, options).await;
    let config = SimConfig { key: SIM_KEY.into(), latency, ..SimConfig::default() };
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let service = server.simulated_service(&sim, "1", "1.00").await;
    let account = server.customer("10.00").await;
    let id = place(&account, service.id).await;
    // The worker waits up to 5 s for the provider.
    let worker = server.worker_waiting(WorkerConfig { lease, ..quick_worker() }, WAIT / 3);
    eventually(WAIT, "the order to be claimed", || async {
        let order = server.store.order(None, &id).await.unwrap().unwrap();
        (order.upstream == Upstream::Submitting).then_some(())
    })
    .await;
    let lock = server.db.hold_write_lock();
    tokio::time::sleep(locked).await;
    let meanwhile = server.store.order(None, &id).await.unwrap().unwrap().upstream;
    assert_eq!(meanwhile, Upstream::Submitting, "the answer came while the database was locked");
    drop(lock);
    let order = eventually(WAIT, "the answer to be recorded", || async {
        let order = server.store.order(None, &id).await.unwrap().unwrap();
        check(&order).then_some(order)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.stop().await;
    assert_eq!(sim.requests().iter().filter(|r| r.action == "add").count(), 1, "sent once");
    assert!(server.store.audit_books().await.unwrap().is_balanced());
    order
}

/// The provider accepts an order while the database is locked: the worker keeps the answer and
/// records it once the database takes writes again, within its claim, instead of leaving the
/// order to go to review for an operator. (Answer after 2 s, lock for 3.5 s, lease 10 s: wide
/// margins, so that a slow machine still has the lock taken before the answer comes.)
async fn a_provider_answer_the_database_cannot_take_yet_is_recorded_when_it_can(backend: Backend) {
    let (latency, lease, locked) = (Duration::from_secs(2), Duration::from_secs(10), Duration::from_millis(3500));
    let order = answer_while_locked(backend, latency, lease, locked, |o| o.upstream != Upstream::Submitting).await;
    assert!(
        matches!(order.upstream, Upstream::Submitted | Upstream::Closed) && order.provider_order_id.is_some(),
        "{order:?}"
    );
}

/// The database stays locked past the claim's lease: the provider's acceptance is still recorded
/// when it comes back (once it was dropped when the lease ran out, and the order went to review
/// with nothing to say the provider had it, inviting an operator to send it again).
async fn a_provider_acceptance_the_database_takes_only_after_the_lease_is_kept(backend: Backend) {
    let (latency, lease, locked) = (Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4));
    let order = answer_while_locked(backend, latency, lease, locked, |o| o.provider_order_id.is_some()).await;
    // The answer or the sweep of the lapsed claim may come first; either way the id is kept, so
    // the order is not sent again.
    assert!(matches!(order.upstream, Upstream::Submitted | Upstream::Closed | Upstream::NeedsReview), "{order:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_answers_503_without_corruption_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("disk");
    let disk = Tmpfs::mount(&mount, 2);
    let database = mount.join("kassa.db");
    let env = KassaEnv::new(&format!("sqlite://{}", database.display()), &dir.path().join("data"));
    assert!(env.run(&["migrate"]).status.success());
    let seeded = env.seed("100000.00", "1.00", 1_000_000);
    let node = env.serve(&["--no-worker"]);
    let signer = seeded.signer(&node.base_url);

    // Orders with long links until the disk is full.
    let mut created = 0;
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let started = Instant::now();
    let mut n = 0;
    while statuses.get(&503).copied().unwrap_or(0) < 5 {
        n += 1;
        assert!(started.elapsed() < Duration::from_secs(60), "the disk never filled: {statuses:?}");
        let body = json!({"service_id": seeded.service, "quantity": 1000, "link": format!("https://x/{n}/{}", "a".repeat(1900))});
        let response = signer.order(&body, &format!("fill-{n}")).send().await;
        *statuses.entry(response.status).or_default() += 1;
        match response.status {
            201 => created += 1,
            503 => assert_eq!(response.json().unwrap()["error"], "database_unavailable"),
            other => panic!("a full disk must answer 503, got {other}: {}", String::from_utf8_lossy(&response.body)),
        }
    }
    assert!(created > 10, "some orders fit before the disk filled: {statuses:?}");
    // Reads still work while writes cannot.
    assert_eq!(signer.get("/api/v1/balance").send().await.status, 200);

    // More room: the same node takes orders again, without a restart.
    disk.resize(64);
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        n += 1;
        let body = json!({"service_id": seeded.service, "quantity": 1000, "link": format!("https://x/after/{n}")});
        let response = signer.order(&body, &format!("after-{n}")).send().await;
        if response.status == 201 || Instant::now() > deadline {
            break response;
        }
        assert_eq!(response.status, 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(after.status, 201);
    drop(node);

    let conn = rusqlite::Connection::open(&database).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok", "no corruption");
    let orders: i64 = conn.query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0)).unwrap();
    assert_eq!(orders, created + 1, "every 201 is an order and nothing else is");
    let books = env.json(&["admin", "books"]);
    assert_eq!(books["balanced"], true, "{books}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_loses_nothing() {
    let postgres = OwnPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let env = KassaEnv::migrated_on(&postgres, dir.path(), &[("KASSA_PG_CONNECT_TIMEOUT_MS", "1000")]);
    let seeded = env.seed("100000.00", "1.00", 1_000_000);
    let node = env.serve(&["--no-worker"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let signer = seeded.signer(&node.base_url);
            let (stop, service) = (stop.clone(), seeded.service);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let key = format!("load-{c}-{n}");
                    let body = json!({"service_id": service, "quantity": 1000, "link": format!("https://x/{key}")});
                    let started = Instant::now();
                    let response = signer.order(&body, &key).send().await;
                    seen.push((key, response.status, started.elapsed()));
                    if response.status != 201 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    postgres.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    postgres.start_again();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut created = 0;
    let mut slowest = Duration::ZERO;
    let mut last_status = 0;
    let mut unanswered = Vec::new();
    for client in clients {
        for (key, status, took) in client.await.unwrap() {
            *statuses.entry(status).or_default() += 1;
            created += usize::from(status == 201);
            slowest = slowest.max(took);
            last_status = status;
            if status == 503 {
                unanswered.push(key);
            }
        }
    }
    assert!(statuses.keys().all(|s| [201, 503].contains(s)), "only 201s and 503s, never a 500: {statuses:?}");
    assert!(!unanswered.is_empty(), "the outage was seen: {statuses:?}");
    assert!(slowest < Duration::from_secs(5), "no request hung: {slowest:?}");
    assert_eq!(last_status, 201, "service resumed without restarting kassa");
    // A 503 says nothing about the outcome: retried with its key, each request is placed once.
    let signer = seeded.signer(&node.base_url);
    for key in &unanswered {
        let body = json!({"service_id": seeded.service, "quantity": 1000, "link": format!("https://x/{key}")});
        let response = signer.order(&body, key).send().await;
        assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
        created += 1;
    }
    let books = env.json(&["admin", "books"]);
    assert_eq!(books["balanced"], true, "{books}");
    assert_eq!(books["orders"].as_u64(), Some(created as u64), "one order per key: {statuses:?}");
    drop(node);
}

/// The books audit reads every order and ledger row, which takes longer than a request may (a
/// million orders: ~15 s on two cores). It must not be cut off by the statement timeout meant for
/// requests: here the timeout is 200 ms and the audit waits a second for a lock on `orders`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_books_audit_outlasts_the_request_statement_timeout() {
    let db = crate::support::TestDb::new(Backend::Postgres).await;
    let mut env = KassaEnv::for_db(&db);
    env.extra_env.push(("KASSA_PG_STATEMENT_TIMEOUT_MS".into(), "200".into()));
    let seeded = env.seed("10.00", "1.00", 1_000);
    let node = env.serve(&[]);
    let body = json!({"service_id": seeded.service, "quantity": 1000, "link": "https://x"});
    assert_eq!(seeded.signer(&node.base_url).order(&body, "audited").send().await.status, 201);

    let (locker, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    locker.batch_execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let audit = tokio::task::spawn_blocking(move || env.json(&["admin", "books"]));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!audit.is_finished(), "the audit waits for the lock instead of giving up after 200 ms");
    locker.batch_execute("COMMIT").await.unwrap();
    let books = audit.await.unwrap();
    assert_eq!((books["balanced"].as_bool(), books["orders"].as_u64()), (Some(true), Some(1)), "{books}");
}

/// An order PostgreSQL refuses with an error (here a trigger an operator added) fails alone: the
/// orders that were batched with it into one call are placed one by one and succeed. The batch
/// is made certain by holding the wallet's row while the orders queue up behind a first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_order_the_database_refuses_fails_alone_not_its_batch() {
    let server = TestServer::start(Backend::Postgres).await;
    let service = server.service(kassa_core::catalog::ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("100.00").await;
    server
        .db
        .execute_sql(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.link = 'https://poison' THEN RAISE EXCEPTION 'no poison here'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_poison BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
        )
        .await;

    let (locker, connection) = tokio_postgres::connect(&server.db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute(&format!("BEGIN; SELECT 1 FROM wallets WHERE customer_id = {} FOR UPDATE", account.customer.0))
        .await
        .unwrap();
    let order = |link: String, key: String| {
        let signer = account.signer();
        let body = json!({"service_id": service.id, "quantity": 1000, "link": link});
        tokio::spawn(async move { signer.order(&body, &key).send().await })
    };
    let first = order("https://first".into(), "first".into());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut queued: Vec<_> = (0..8).map(|i| order(format!("https://x/{i}"), format!("queued-{i}"))).collect();
    queued.push(order("https://poison".into(), "poison".into()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    locker.batch_execute("COMMIT").await.unwrap();

    assert_eq!(first.await.unwrap().status, 201);
    let poisoned = queued.pop().unwrap().await.unwrap();
    assert_eq!(poisoned.status, 500, "{}", String::from_utf8_lossy(&poisoned.body));
    for response in queued {
        let response = response.await.unwrap();
        assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    }
    let books = server.store.audit_books().await.unwrap();
    assert_eq!((books.orders, books.is_balanced()), (9, true), "{books:?}");
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance, kassa_core::Minor(9_100));
}
