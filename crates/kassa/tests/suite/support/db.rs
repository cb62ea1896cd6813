//! A database per test, on either backend.
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a fresh database on the server named by
//! `KASSA_TEST_DATABASE_URL`, migrated, and dropped when the test ends.

use std::sync::Arc;
use std::time::Duration;

use kassa_core::crypto::MasterKey;
use kassa_store::postgres::{PostgresOptions, PostgresStore};
use kassa_store::sqlite::{SqliteOptions, SqliteStore};
use kassa_store::Store;

/// The databases the behavioural suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database URL (`None` for SQLite).
    postgres_url: Option<String>,
    /// Every kassa process of one PostgreSQL test must share one master key.
    pub master_key: MasterKey,
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a write waits for a lock before answering "unavailable" (SQLite busy timeout,
    /// PostgreSQL statement timeout).
    pub busy_timeout: Duration,
    pub currency: Option<kassa_core::Currency>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { busy_timeout: Duration::from_secs(5), currency: None }
    }
}

/// The server the PostgreSQL tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("KASSA_TEST_DATABASE_URL").expect(
        "KASSA_TEST_DATABASE_URL must name a PostgreSQL server for the PostgreSQL tests; \
         scripts/test.sh starts a throwaway one",
    )
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn admin_client() -> tokio_postgres::Client {
    let url = postgres_admin_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach KASSA_TEST_DATABASE_URL: {e}"));
    tokio::spawn(connection);
    client
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let postgres_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let name =
                    format!("kassa_t_{}", kassa_core::ids::random_token(b"abcdefghijklmnopqrstuvwxyz0123456789", 16));
                admin_client()
                    .await
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let url = with_database(&postgres_admin_url(), &name);
                PostgresStore::migrate(&PostgresOptions::new(&url)).await.expect("migrate test database");
                Some(url)
            }
        };
        Self { backend, dir, postgres_url, master_key: MasterKey::generate() }
    }

    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self.dir.path().join("kassa.db")
    }

    /// The `KASSA_DATABASE_URL` of this database, for spawning the binary.
    pub fn url(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.sqlite_path().display()),
            Backend::Postgres => self.postgres_url.clone().expect("PostgreSQL URL"),
        }
    }

    pub async fn open(&self, options: &StoreOptions) -> Arc<dyn Store> {
        match self.backend {
            Backend::Sqlite => {
                let mut sqlite = SqliteOptions::new(self.sqlite_path());
                sqlite.busy_timeout = options.busy_timeout;
                sqlite.currency = options.currency.clone();
                Arc::new(SqliteStore::open(sqlite).await.expect("open SQLite store"))
            }
            Backend::Postgres => {
                let mut postgres = PostgresOptions::new(self.url());
                postgres.statement_timeout = options.busy_timeout;
                postgres.currency = options.currency.clone();
                Arc::new(PostgresStore::open(postgres).await.expect("open PostgreSQL store"))
            }
        }
    }

    /// Applies the migrations the database lacks, as `kassa migrate` does.
    pub async fn migrate(&self) -> Vec<i64> {
        match self.backend {
            Backend::Sqlite => SqliteStore::migrate(&self.sqlite_path(), Duration::from_secs(5)).expect("migrate"),
            Backend::Postgres => PostgresStore::migrate(&PostgresOptions::new(self.url())).await.expect("migrate"),
        }
    }

    /// Runs SQL on the database directly, beside any store (to damage it on purpose, say).
    pub async fn execute_sql(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let conn = rusqlite::Connection::open(self.sqlite_path()).expect("open SQLite");
                conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
                conn.execute_batch(sql).expect("run SQL");
            }
            Backend::Postgres => {
                let url = self.postgres_url.clone().expect("PostgreSQL URL");
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
                tokio::spawn(connection);
                client.batch_execute(sql).await.expect("run SQL");
            }
        }
    }

    /// Holds the lock every order write needs until dropped, so writes of the server wait (and,
    /// past their timeout, fail) while it is held.
    pub fn hold_write_lock(&self) -> WriteLock {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel::<()>();
        let backend = self.backend;
        let sqlite_path = self.sqlite_path();
        let url = self.postgres_url.clone();
        let holder = std::thread::spawn(move || match backend {
            Backend::Sqlite => {
                let conn = rusqlite::Connection::open(sqlite_path).expect("open SQLite");
                conn.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
                ready.send(()).unwrap();
                let _ = released.recv();
                let _ = conn.execute_batch("ROLLBACK");
            }
            Backend::Postgres => {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async move {
                    let (client, connection) =
                        tokio_postgres::connect(&url.unwrap(), tokio_postgres::NoTls).await.unwrap();
                    tokio::spawn(connection);
                    // Orders debit wallets, profile writes change customers and the fulfilment
                    // worker changes orders: exclusive table locks make every such write wait,
                    // while plain reads go on.
                    client
                        .batch_execute("BEGIN; LOCK TABLE wallets, customers, orders IN EXCLUSIVE MODE")
                        .await
                        .expect("lock wallets, customers and orders");
                    ready.send(()).unwrap();
                    let _ = tokio::task::spawn_blocking(move || released.recv()).await;
                    let _ = client.batch_execute("ROLLBACK").await;
                });
            }
        });
        is_ready.recv().expect("lock taken");
        WriteLock { release: Some(release), holder: Some(holder) }
    }
}

pub struct WriteLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
        if let Some(holder) = self.holder.take() {
            let _ = holder.join();
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(url) = self.postgres_url.take() else { return };
        let name = url.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default().to_string();
        // Drop on a thread of its own: this may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = admin_client().await;
                let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            });
        })
        .join();
    }
}
