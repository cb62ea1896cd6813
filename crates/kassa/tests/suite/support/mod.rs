//! The test harness: a fresh database per test, the real server on `127.0.0.1:0`, the real SDK,
//! and helpers to make customers, keys and services. Tests are written once and run against every
//! backend through [`backend_tests!`].

#![allow(dead_code)]

pub mod db;
pub mod fulfilment;
pub mod process;
pub mod profile;
pub mod raw;
pub mod receiver;
pub mod schema;
pub mod services;

use std::sync::Arc;

use kassa_client::{Client, RetryPolicy};
use kassa_core::catalog::ServiceKind;
use kassa_core::crypto::{MasterKey, Vault};
use kassa_core::{CustomerId, Minor};
use kassa_server::{AppState, ServerConfig};
use kassa_store::{ApiKeyRecord, LedgerKind, NewApiKey, NewCustomer, NewLedgerEntry, NewService, ServiceRecord, Store};

pub use db::{Backend, StoreOptions, TestDb};

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(backend: Backend)`.
/// The PostgreSQL variant needs `KASSA_TEST_DATABASE_URL` (scripts/test.sh provides one) and
/// fails without it: it never passes silently.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A running server with its own database.
pub struct TestServer {
    pub db: TestDb,
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub vault: Vault,
    pub base_url: String,
    pub addr: std::net::SocketAddr,
    /// The server's state, for tests that reach behind the API (e.g. hold an idempotency key).
    pub state: AppState,
    /// Every answer checked against openapi.json; fails the test on drop if one did not fit.
    pub conformance: schema::Conformance,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _conformance: schema::ConformanceGuard,
}

#[derive(Default)]
pub struct ServerOptions {
    pub store: StoreOptions,
    pub config: ServerConfig,
    /// The key the server opens secrets with; `None` = the one the test seeds with.
    pub server_master_key: Option<MasterKey>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, ServerOptions::default()).await
    }

    pub async fn start_with(backend: Backend, options: ServerOptions) -> Self {
        init_logs();
        let db = TestDb::new(backend).await;
        let store = db.open(&options.store).await;
        let master_key = db.master_key.clone();
        let vault = Vault::new(master_key.clone());
        let server_vault = Vault::new(options.server_master_key.unwrap_or_else(|| master_key.clone()));
        let conformance = schema::Conformance::default();
        let mut node = Node::start(store.clone(), server_vault, options.config, &conformance).await;
        Self {
            db,
            store,
            master_key,
            vault,
            base_url: node.base_url.clone(),
            addr: node.addr,
            state: node.state.clone(),
            _conformance: schema::ConformanceGuard(conformance.clone()),
            conformance,
            shutdown: node.shutdown.take(),
            task: node.task.take(),
        }
    }

    /// A second node on this test's database, as another `kassa serve` process would be: its own
    /// store connections, in-flight keys, rate limits and provider connectors. It stops when
    /// dropped.
    pub async fn second_node(&self) -> Node {
        let store = self.db.open(&StoreOptions::default()).await;
        let config = self.state.config.clone();
        Node::start(store, Vault::new(self.master_key.clone()), config, &self.conformance).await
    }

    /// Stops the server (finishing requests in progress) and hands back its database.
    pub async fn stop(self) -> TestDb {
        let TestServer { db, shutdown, task, .. } = self;
        if let Some(s) = shutdown {
            let _ = s.send(());
        }
        if let Some(t) = task {
            let _ = t.await;
        }
        db
    }

    pub fn currency(&self) -> &kassa_core::Currency {
        self.store.currency()
    }

    /// A customer with `balance` (in the store currency, e.g. "10.00") and one active key.
    pub async fn customer(&self, balance: &str) -> Account {
        self.customer_with(balance, KeyOptions::default()).await
    }

    pub async fn customer_with(&self, balance: &str, key: KeyOptions) -> Account {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let customer = self
            .store
            .create_customer(NewCustomer {
                email: format!("customer{n}@example.com"),
                first_name: Some(format!("C{n}")),
                ..Default::default()
            })
            .await
            .expect("create customer");
        let amount = self.currency().parse(balance).expect("balance");
        if amount.0 > 0 {
            self.credit(customer.id, amount).await;
        }
        let (key, secret) = self.key_for(customer.id, key).await;
        Account { customer: customer.id, key, secret, base_url: self.base_url.clone() }
    }

    pub async fn credit(&self, customer: CustomerId, amount: Minor) {
        self.store
            .post_ledger_entry(NewLedgerEntry {
                customer_id: customer,
                kind: LedgerKind::Topup,
                amount,
                reference: format!("test-topup-{}", kassa_core::ids::random_token(b"abcdef0123456789", 16)),
                note: None,
            })
            .await
            .expect("credit");
    }

    pub async fn key_for(&self, customer: CustomerId, options: KeyOptions) -> (ApiKeyRecord, String) {
        let api_key = kassa_core::ids::generate_api_key();
        let secret = kassa_core::ids::generate_api_secret();
        let sealed = self.vault.seal(secret.as_bytes(), &kassa_server::auth::secret_context(&api_key));
        let record = self
            .store
            .create_api_key(NewApiKey {
                customer_id: customer,
                api_key,
                secret_sealed: sealed,
                allowed_ips: options.allowed_ips.iter().map(|s| s.parse().expect("CIDR")).collect(),
                allowed_services: options.allowed_services,
                rate_limit_per_minute: options.rate_limit_per_minute,
            })
            .await
            .expect("create key");
        (record, secret)
    }

    pub async fn service(&self, kind: ServiceKind, price: &str, min: u64, max: u64) -> ServiceRecord {
        self.store
            .create_service(NewService {
                name: format!("{kind} service at {price}"),
                category: "Test".into(),
                kind,
                price_per_1000: price.parse().expect("price"),
                min,
                max,
            })
            .await
            .expect("create service")
    }
}

/// One server on `127.0.0.1:0`, its answers checked against openapi.json.
pub struct Node {
    pub base_url: String,
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    async fn start(
        store: Arc<dyn Store>,
        vault: Vault,
        config: ServerConfig,
        conformance: &schema::Conformance,
    ) -> Self {
        let listener = kassa_server::listen(([127, 0, 0, 1], 0).into()).expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let config = ServerConfig { listen: addr, ..config };
        let state = AppState::new(store, vault, config.clone()).expect("server state");
        let check = conformance.clone();
        let app = kassa_server::router(state.clone())
            .layer(axum::middleware::from_fn(move |request, next| check.clone().layer(request, next)));
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            kassa_server::serve_router(listener, app, &config, async {
                let _ = stop.await;
            })
            .await
            .expect("server runs");
        });
        Self { base_url: format!("http://{addr}"), addr, state, shutdown: Some(shutdown), task: Some(task) }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub struct KeyOptions {
    pub allowed_ips: Vec<&'static str>,
    pub allowed_services: Vec<i64>,
    pub rate_limit_per_minute: u32,
}

impl Default for KeyOptions {
    fn default() -> Self {
        Self { allowed_ips: Vec::new(), allowed_services: Vec::new(), rate_limit_per_minute: 100_000 }
    }
}

/// A customer with a key, as an integrator holds it.
#[derive(Clone)]
pub struct Account {
    pub customer: CustomerId,
    pub key: ApiKeyRecord,
    pub secret: String,
    pub base_url: String,
}

impl Account {
    /// Places `quantity` of `service_id` for `https://x` through the SDK, under a key it makes.
    pub async fn place(&self, service_id: i64, quantity: u64) -> kassa_client::PlacedOrder {
        let request = kassa_client::CreateOrderRequest {
            service_id,
            quantity,
            link: "https://x".into(),
            client_order_ref: None,
            custom_comments: None,
        };
        self.client().create_order(&request, None).await.expect("the order is placed")
    }

    /// An SDK client that does not retry, so tests see every answer.
    pub fn client(&self) -> Client {
        Client::with_retry(&self.base_url, &self.key.api_key, &self.secret, RetryPolicy::none()).expect("client")
    }

    /// An SDK client with the default retries.
    pub fn retrying_client(&self) -> Client {
        Client::new(&self.base_url, &self.key.api_key, &self.secret).expect("client")
    }

    pub fn signer(&self) -> raw::Signer {
        raw::Signer::new(&self.base_url, &self.key.api_key, &self.secret)
    }

    /// Signs profile-dialect requests with this account's key and secret.
    pub fn profile(&self) -> profile::ProfileSigner {
        profile::ProfileSigner::new(&self.base_url, &self.key.api_key, &self.secret)
    }
}

/// Asserts an error answer: status, code, and `success: false`.
pub fn assert_error(response: &kassa_client::RawResponse, status: u16, code: &str) -> serde_json::Value {
    let body = response
        .json()
        .unwrap_or_else(|e| panic!("HTTP {}: {e}: {:?}", response.status, String::from_utf8_lossy(&response.body)));
    assert_eq!(
        (response.status, body["error"].as_str()),
        (status, Some(code)),
        "unexpected answer: {}",
        serde_json::to_string(&body).unwrap()
    );
    assert_eq!(body["success"], serde_json::json!(false));
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "message missing");
    assert!(response.header("x-request-id").is_some(), "every answer carries X-Request-Id");
    body
}

/// Server logs of in-process servers go to the test's output when `KASSA_TEST_LOG` holds tracing
/// directives (e.g. `debug`).
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("KASSA_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}
