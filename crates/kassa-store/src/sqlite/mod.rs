//! The embedded store: one SQLite file in WAL mode.
//!
//! * Writes go through one writer thread with group commit ([`writer`]), so there is exactly
//!   one writer per process and `BEGIN IMMEDIATE` serializes it with other processes (the admin
//!   CLI) through SQLite's own lock.
//! * Reads use a small pool of read-only connections and run inline: a point read on an indexed
//!   WAL database takes microseconds, less than handing it to another thread would.
//! * `synchronous=FULL`: a commit returns only after the WAL is on disk, so an acknowledged order
//!   survives power loss.

mod auth_cache;
mod fulfilment;
mod rows;
mod sql;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kassa_core::profile::ProfileChanges;
use kassa_core::{Currency, CustomerId, OrderId};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::migrate::{compare, Migration, SchemaState};
use crate::model::*;
use crate::{rules, Store, StoreError, StoreKind, StoreResult};

pub use writer::WriterStats;

const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../../migrations/sqlite/0001_init.sql") },
    Migration { version: 2, name: "profile", sql: include_str!("../../migrations/sqlite/0002_profile.sql") },
    Migration { version: 3, name: "fulfilment", sql: include_str!("../../migrations/sqlite/0003_fulfilment.sql") },
    Migration { version: 4, name: "signatures", sql: include_str!("../../migrations/sqlite/0004_signatures.sql") },
    Migration { version: 5, name: "order_counts", sql: include_str!("../../migrations/sqlite/0005_order_counts.sql") },
    Migration {
        version: 6,
        name: "deliveries_by_state",
        sql: include_str!("../../migrations/sqlite/0006_deliveries_by_state.sql"),
    },
    Migration { version: 7, name: "refill_keys", sql: include_str!("../../migrations/sqlite/0007_refill_keys.sql") },
    Migration {
        version: 8,
        name: "ledger_by_reference",
        sql: include_str!("../../migrations/sqlite/0008_ledger_by_reference.sql"),
    },
    Migration { version: 9, name: "auth_epoch", sql: include_str!("../../migrations/sqlite/0009_auth_epoch.sql") },
    Migration {
        version: 10,
        name: "stranded_queued",
        sql: include_str!("../../migrations/sqlite/0010_stranded_queued.sql"),
    },
];

/// How to open the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    /// The wallet currency for a new database; for an existing one it must match (or be `None`).
    pub currency: Option<Currency>,
    /// Create the file and apply pending migrations on open (the embedded default does).
    pub migrate: bool,
    /// How long a statement waits for another process's lock before `database_unavailable`.
    pub busy_timeout: Duration,
    /// Most jobs sharing one commit.
    pub max_batch: usize,
    /// Most writes waiting for the writer.
    pub queue_len: usize,
    /// WAL length, in frames, at which the writer starts the WAL over (see `writer`).
    pub wal_restart_frames: i64,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            currency: None,
            migrate: true,
            busy_timeout: Duration::from_secs(5),
            max_batch: 256,
            queue_len: 4096,
            wal_restart_frames: writer::WAL_RESTART_FRAMES,
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    currency: Currency,
    writer: writer::Writer,
    readers: Arc<Readers>,
    auth_cache: auth_cache::AuthCache,
}

/// Maps SQLite errors to what the caller should do: "unavailable" for anything about the file,
/// the disk or a lock; "internal" for the rest (a bug or a corrupted row).
pub(crate) fn map_err(error: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match &error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            DatabaseBusy
            | DatabaseLocked
            | DiskFull
            | SystemIoFailure
            | CannotOpen
            | ReadOnly
            | OutOfMemory
            | DatabaseCorrupt
            | NotADatabase
            | FileLockingProtocolFailed
            | PermissionDenied => StoreError::Unavailable(error.to_string()),
            ConstraintViolation => StoreError::Conflict(error.to_string()),
            _ => StoreError::Internal(error.to_string()),
        },
        _ => StoreError::Internal(error.to_string()),
    }
}

/// Statements keep the plan they were prepared with, whatever values are bound later. Without
/// this, SQLite (built with STAT4) re-prepares a statement such as `... WHERE ?2 IS NULL OR
/// status = ?2` whenever a bound value might change its plan: in the profile of the order list
/// that re-parsing was an eighth of the work.
fn plan_once(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// 1 KiB pages for a new database (an existing one keeps its own). An order changes some
/// fifteen B-tree pages at scattered places (order, idempotency, signature, per-customer and
/// ledger indexes, the wallet), and every changed page is written whole to the WAL, synced, and
/// written again by the checkpoint: with 1 KiB pages that is a quarter of the bytes of SQLite's
/// default 4 KiB, and orders were placed about 30 % faster in the benchmark (BENCHMARKS.md).
fn choose_page_size(conn: &Connection) -> rusqlite::Result<()> {
    let tables: i64 = conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables == 0 {
        conn.pragma_update(None, "page_size", 1024)?;
    }
    Ok(())
}

/// A connection that may write: through kassa's VFS, which hands a commit's WAL frames to the
/// operating system in a few large writes instead of two small ones per frame (`kassa-sqlite-vfs`).
/// Readers never write the WAL and open with the operating system's VFS directly.
fn open_writable(path: &Path) -> StoreResult<Connection> {
    kassa_sqlite_vfs::register().map_err(StoreError::Internal)?;
    Connection::open_with_flags_and_vfs(path, OpenFlags::default(), kassa_sqlite_vfs::NAME).map_err(map_err)
}

fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    plan_once(conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The writer's connection runs every order in a savepoint inside a large transaction: its
/// statement journals stay in memory (not a temp file). It does not checkpoint the WAL itself:
/// the checkpoint thread does (see `writer::checkpoints`).
fn tune_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(())
}

struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    const KEEP_IDLE: usize = 16;

    fn open(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(map_err)?;
        conn.busy_timeout(self.busy_timeout).map_err(map_err)?;
        plan_once(&conn).map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// Runs a read on a pooled connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = match self.idle.lock().expect("reader pool lock").pop() {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = f(&conn);
        // A connection still inside a transaction (a read that began one and could not end it)
        // would answer every later read from its old snapshot, a revoked key's included: it is
        // closed, which ends the transaction, instead of kept.
        let mut idle = self.idle.lock().expect("reader pool lock");
        if conn.is_autocommit() && idle.len() < Self::KEEP_IDLE {
            idle.push(conn);
        }
        result
    }
}

impl SqliteStore {
    pub async fn open(options: SqliteOptions) -> StoreResult<Self> {
        let opts = options.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(opts))
            .await
            .map_err(|e| StoreError::Internal(format!("opening SQLite: {e}")))?
    }

    fn open_blocking(options: SqliteOptions) -> StoreResult<Self> {
        let path = options.path.clone();
        if !options.migrate && !path.exists() {
            return Err(StoreError::Schema(format!(
                "{} does not exist; run `kassa migrate` or `kassa serve` to create it",
                path.display()
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = open_writable(&path)?;
        choose_page_size(&conn).map_err(map_err)?;
        configure(&conn, options.busy_timeout).map_err(map_err)?;
        let applied = applied_migrations(&conn)?;
        match compare(&applied, MIGRATIONS)? {
            SchemaState::Current => {}
            SchemaState::Behind { pending } if options.migrate => apply_migrations(&conn, &pending)?,
            SchemaState::Behind { pending } => {
                return Err(StoreError::Schema(format!(
                    "{} lacks schema migrations {pending:?}; run `kassa migrate`",
                    path.display()
                )))
            }
        }
        let currency = settle_currency(&conn, options.currency.as_ref())?;
        let auth_cache = auth_cache::AuthCache::for_database(&conn)?;
        let readers =
            Arc::new(Readers { path: path.clone(), busy_timeout: options.busy_timeout, idle: Mutex::new(Vec::new()) });
        tune_writer(&conn).map_err(map_err)?;
        let checkpointer = open_writable(&path)?;
        configure(&checkpointer, options.busy_timeout).map_err(map_err)?;
        let writer = writer::Writer::start(
            conn,
            checkpointer,
            options.max_batch,
            options.queue_len,
            options.wal_restart_frames,
            options.busy_timeout,
        );
        Ok(Self { path, currency, writer, readers, auth_cache })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn writer_stats(&self) -> &WriterStats {
        &self.writer.stats
    }

    /// Applies pending migrations to the file at `path` and reports which ran.
    pub fn migrate(path: &Path, busy_timeout: Duration) -> StoreResult<Vec<i64>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = open_writable(path)?;
        choose_page_size(&conn).map_err(map_err)?;
        configure(&conn, busy_timeout).map_err(map_err)?;
        match compare(&applied_migrations(&conn)?, MIGRATIONS)? {
            SchemaState::Current => Ok(Vec::new()),
            SchemaState::Behind { pending } => {
                apply_migrations(&conn, &pending)?;
                Ok(pending)
            }
        }
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(work).await
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.readers.read(f)
    }

    /// Reads that may scan (lists, audits) run on the blocking pool, not on the request thread.
    async fn read_blocking<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.read(f))
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }
}

fn applied_migrations(conn: &Connection) -> StoreResult<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS kassa_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .map_err(map_err)?;
    let mut stmt = conn.prepare("SELECT version FROM kassa_schema ORDER BY version").map_err(map_err)?;
    let versions =
        stmt.query_map([], |r| r.get(0)).map_err(map_err)?.collect::<Result<Vec<i64>, _>>().map_err(map_err)?;
    Ok(versions)
}

fn apply_migrations(conn: &Connection, pending: &[i64]) -> StoreResult<()> {
    for migration in MIGRATIONS.iter().filter(|m| pending.contains(&m.version)) {
        let sql = format!(
            "BEGIN IMMEDIATE; {} ; INSERT INTO kassa_schema (version, name, applied_at) VALUES ({}, '{}', {}); COMMIT;",
            migration.sql,
            migration.version,
            migration.name,
            now_millis()
        );
        if let Err(e) = conn.execute_batch(&sql) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(StoreError::Schema(format!(
                "migration {} ({}) failed: {e}",
                migration.version, migration.name
            )));
        }
        tracing::info!(version = migration.version, name = migration.name, "applied SQLite migration");
    }
    Ok(())
}

/// The currency is written once, when the database is new, and checked on every later open:
/// changing the decimals under existing balances would silently rescale every wallet.
fn settle_currency(conn: &Connection, configured: Option<&Currency>) -> StoreResult<Currency> {
    let read = |key: &str| -> StoreResult<Option<String>> {
        conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(map_err)
    };
    match (read("currency")?, read("currency_decimals")?) {
        (Some(code), Some(decimals)) => {
            let decimals: u8 =
                decimals.parse().map_err(|_| StoreError::Internal("bad currency_decimals setting".into()))?;
            let stored = Currency::new(&code, decimals).map_err(|e| StoreError::Internal(e.to_string()))?;
            if let Some(configured) = configured {
                if configured != &stored {
                    return Err(StoreError::Schema(format!(
                        "the database keeps money in {} with {} decimals but the configuration asks for {} with {}; \
                         the currency cannot change once wallets exist",
                        stored.code(),
                        stored.decimals(),
                        configured.code(),
                        configured.decimals()
                    )));
                }
            }
            Ok(stored)
        }
        _ => {
            let currency = configured.cloned().unwrap_or_else(Currency::usd);
            conn.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES ('currency', ?1), ('currency_decimals', ?2)",
                rusqlite::params![currency.code(), currency.decimals().to_string()],
            )
            .map_err(map_err)?;
            Ok(currency)
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sqlite
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn currency(&self) -> &Currency {
        &self.currency
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
    }

    async fn create_customer(&self, new: NewCustomer) -> StoreResult<Customer> {
        self.write(move |c| sql::create_customer(c, &new, now_millis())).await
    }

    async fn customer(&self, id: CustomerId) -> StoreResult<Option<Customer>> {
        self.read(|c| sql::customer(c, id))
    }

    async fn list_customers(&self) -> StoreResult<Vec<Customer>> {
        self.read_blocking(sql::list_customers).await
    }

    async fn set_customer_status(&self, id: CustomerId, status: CustomerStatus) -> StoreResult<Customer> {
        self.write(move |c| sql::set_customer_status(c, id, status, now_millis())).await
    }

    async fn update_profile(&self, id: CustomerId, changes: ProfileChanges) -> StoreResult<Customer> {
        self.write(move |c| sql::update_profile(c, id, &changes, now_millis())).await
    }

    async fn wallet(&self, id: CustomerId) -> StoreResult<Wallet> {
        self.read(|c| sql::wallet(c, id))
    }

    async fn post_ledger_entry(&self, entry: NewLedgerEntry) -> StoreResult<Posted> {
        self.write(move |c| sql::post_ledger_entry(c, &entry, now_millis())).await
    }

    async fn ledger(&self, id: CustomerId, limit: u32) -> StoreResult<Vec<LedgerEntry>> {
        self.read_blocking(move |c| sql::ledger(c, id, limit)).await
    }

    async fn audit_books(&self) -> StoreResult<BooksReport> {
        self.read_blocking(sql::audit_books).await
    }

    async fn create_api_key(&self, new: NewApiKey) -> StoreResult<ApiKeyRecord> {
        self.write(move |c| sql::create_api_key(c, &new, now_millis())).await
    }

    async fn auth_record(&self, api_key: &str) -> StoreResult<Option<AuthRecord>> {
        self.read(|c| self.auth_cache.auth_record(c, api_key))
    }

    async fn set_api_key_status(&self, api_key: &str, status: KeyStatus) -> StoreResult<ApiKeyRecord> {
        let api_key = api_key.to_string();
        self.write(move |c| sql::set_api_key_status(c, &api_key, status, now_millis())).await
    }

    async fn list_api_keys(&self, customer: Option<CustomerId>) -> StoreResult<Vec<ApiKeyRecord>> {
        self.read_blocking(move |c| sql::list_api_keys(c, customer)).await
    }

    async fn create_service(&self, new: NewService) -> StoreResult<ServiceRecord> {
        self.write(move |c| sql::create_service(c, &new, now_millis())).await
    }

    async fn update_service(&self, id: i64, patch: ServicePatch) -> StoreResult<ServiceRecord> {
        self.write(move |c| sql::update_service(c, id, &patch, now_millis())).await
    }

    async fn services(&self, active_only: bool) -> StoreResult<Vec<ServiceRecord>> {
        self.read(|c| sql::services(c, active_only))
    }

    async fn create_order(&self, new: NewOrder) -> StoreResult<OrderPlaced> {
        let currency = self.currency.clone();
        self.write(move |c| sql::create_order(c, &currency, &new, now_millis())).await
    }

    async fn order(&self, customer: Option<CustomerId>, id: &OrderId) -> StoreResult<Option<OrderRecord>> {
        self.read(|c| sql::order(c, customer, id))
    }

    async fn order_by_idempotency_key(
        &self,
        customer: CustomerId,
        idempotency_key: &str,
    ) -> StoreResult<Option<OrderRecord>> {
        self.read(|c| Ok(sql::order_by_idempotency(c, customer, idempotency_key)?.map(|(order, _)| order)))
    }

    async fn list_orders(&self, filter: OrderFilter) -> StoreResult<OrderPage> {
        self.read_blocking(move |c| sql::list_orders(c, &filter)).await
    }

    async fn change_order(&self, id: &OrderId, change: StatusChange) -> StoreResult<OrderRecord> {
        let (id, currency) = (id.clone(), self.currency.clone());
        self.write(move |c| sql::change_order(c, &currency, &id, &change, now_millis())).await
    }

    async fn cancel_order(&self, customer: Option<CustomerId>, id: &OrderId) -> StoreResult<CancelOutcome> {
        let (id, currency) = (id.clone(), self.currency.clone());
        self.write(move |c| fulfilment::cancel_order(c, &currency, customer, &id, now_millis())).await
    }

    async fn create_refill(
        &self,
        id: &OrderId,
        provider_refill_id: Option<String>,
        status: &str,
    ) -> StoreResult<RefillRecord> {
        let (id, status) = (id.clone(), status.to_string());
        self.write(move |c| fulfilment::create_refill(c, &id, provider_refill_id.as_deref(), &status, now_millis()))
            .await
    }

    async fn reserve_refill(
        &self,
        id: &OrderId,
        idempotency_key: &str,
        stale_after: Duration,
    ) -> StoreResult<RefillReservation> {
        let (id, key) = (id.clone(), idempotency_key.to_string());
        self.write(move |c| {
            let now = now_millis();
            fulfilment::reserve_refill(c, &id, &key, now - stale_after.as_millis() as i64, now)
        })
        .await
    }

    async fn settle_refill(
        &self,
        hold: RefillHold,
        provider_refill_id: Option<String>,
        status: &str,
    ) -> StoreResult<RefillRecord> {
        let status = status.to_string();
        self.write(move |c| fulfilment::settle_refill(c, hold, provider_refill_id.as_deref(), &status)).await
    }

    async fn release_refill(&self, hold: RefillHold) -> StoreResult<()> {
        self.write(move |c| fulfilment::release_refill(c, hold)).await
    }

    async fn refills(&self, filter: RefillFilter) -> StoreResult<Vec<RefillRecord>> {
        self.read_blocking(move |c| fulfilment::refills(c, &filter)).await
    }

    async fn close_refill(&self, refill: i64, status: &str) -> StoreResult<RefillRecord> {
        let status = status.to_string();
        self.write(move |c| fulfilment::close_refill(c, refill, &status)).await
    }

    async fn create_provider(&self, new: NewProvider) -> StoreResult<ProviderRecord> {
        self.write(move |c| fulfilment::create_provider(c, &new, now_millis())).await
    }

    async fn providers(&self) -> StoreResult<Vec<ProviderRecord>> {
        self.read(fulfilment::providers)
    }

    async fn claim_submissions(&self, limit: u32, lease: Duration) -> StoreResult<Claimed> {
        let now = now_millis();
        let until = now + lease.as_millis() as i64;
        let orders = self.write(move |c| fulfilment::claim_submissions(c, limit, until, now)).await?;
        Ok(Claimed { until, orders })
    }

    async fn record_submission(
        &self,
        id: &OrderId,
        claimed_until: Millis,
        submission: Submission,
        poll_at: Millis,
    ) -> StoreResult<OrderRecord> {
        let (id, currency) = (id.clone(), self.currency.clone());
        self.write(move |c| {
            fulfilment::record_submission(c, &currency, &id, claimed_until, &submission, poll_at, now_millis())
        })
        .await
    }

    async fn claim_polls(&self, limit: u32, ahead: Duration, lease: Duration) -> StoreResult<Claimed> {
        let now = now_millis();
        let (due_by, lease_until) = rules::poll_window(now, ahead, lease);
        let orders = self.write(move |c| fulfilment::claim_polls(c, limit, lease_until, due_by)).await?;
        Ok(Claimed { until: lease_until, orders })
    }

    async fn record_poll(
        &self,
        id: &OrderId,
        claimed_until: Millis,
        change: StatusChange,
        next_poll_at: Millis,
    ) -> StoreResult<OrderRecord> {
        let (id, currency) = (id.clone(), self.currency.clone());
        self.write(move |c| {
            fulfilment::record_poll(c, &currency, &id, claimed_until, &change, next_poll_at, now_millis())
        })
        .await
    }

    async fn resolve_review(&self, id: &OrderId, resolution: Resolution) -> StoreResult<OrderRecord> {
        let (id, currency) = (id.clone(), self.currency.clone());
        self.write(move |c| fulfilment::resolve_review(c, &currency, &id, &resolution, now_millis())).await
    }

    async fn create_webhook(&self, new: NewWebhook) -> StoreResult<WebhookRecord> {
        self.write(move |c| webhooks::create_webhook(c, &new, now_millis())).await
    }

    async fn webhooks(&self, customer: Option<CustomerId>) -> StoreResult<Vec<WebhookRecord>> {
        self.read(|c| webhooks::webhooks(c, customer))
    }

    async fn delete_webhook(&self, customer: Option<CustomerId>, id: i64) -> StoreResult<()> {
        self.write(move |c| webhooks::delete_webhook(c, customer, id, now_millis())).await
    }

    async fn claim_deliveries(&self, limit: u32, lease: Duration) -> StoreResult<Vec<DeliveryJob>> {
        let now = now_millis();
        self.write(move |c| webhooks::claim_deliveries(c, limit, now + lease.as_millis() as i64, now)).await
    }

    async fn record_delivery(
        &self,
        id: i64,
        claimed_until: Millis,
        attempt: DeliveryAttempt,
    ) -> StoreResult<Option<DeliveryRecord>> {
        self.write(move |c| webhooks::record_delivery(c, id, claimed_until, &attempt, now_millis())).await
    }

    async fn deliveries(&self, filter: DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>> {
        self.read_blocking(move |c| webhooks::deliveries(c, &filter)).await
    }

    async fn replay_delivery(&self, id: i64) -> StoreResult<DeliveryRecord> {
        self.write(move |c| webhooks::replay_delivery(c, id, now_millis())).await
    }

    async fn submit_verification(&self, new: NewVerification) -> StoreResult<VerificationRecord> {
        self.write(move |c| sql::submit_verification(c, &new, now_millis())).await
    }

    async fn latest_verification(&self, customer: CustomerId) -> StoreResult<Option<VerificationRecord>> {
        self.read(|c| sql::latest_verification(c, customer))
    }

    async fn verification(&self, id: i64) -> StoreResult<Option<VerificationRecord>> {
        self.read(|c| sql::verification(c, id))
    }

    async fn list_verifications(&self, filter: VerificationFilter) -> StoreResult<Vec<VerificationRecord>> {
        self.read_blocking(move |c| sql::list_verifications(c, &filter)).await
    }

    async fn verification_document(&self, id: i64, slot: DocumentSlot) -> StoreResult<Option<SealedDocument>> {
        // Up to 10 MiB from overflow pages: not a read for the request thread.
        self.read_blocking(move |c| sql::verification_document(c, id, slot)).await
    }

    async fn review_verification(&self, review: Review) -> StoreResult<VerificationRecord> {
        self.write(move |c| sql::review_verification(c, &review, now_millis())).await
    }

    async fn verification_audit(&self, id: i64) -> StoreResult<Vec<AuditEntry>> {
        self.read_blocking(move |c| sql::verification_audit(c, id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.cargo/config.toml` builds the bundled SQLite without the global page-cache group and
    /// memory statistics: both take a process-wide mutex on every page fetched and every
    /// allocation, which the writer and the readers contend for (about 17 % of the server's CPU
    /// per order; BENCHMARKS.md). A build that lost those flags fails here.
    #[test]
    fn sqlite_is_built_without_process_wide_mutexes() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(!options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
        assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
        assert!(options.iter().any(|o| o == "THREADSAFE=1"), "{options:?}");
    }

    #[test]
    fn a_reader_left_in_a_transaction_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("readers.db");
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER)").unwrap();
        let readers = Readers { path, busy_timeout: Duration::from_secs(5), idle: Mutex::new(Vec::new()) };
        let count = |c: &Connection| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)).map_err(map_err);

        // A read that begins a transaction and returns without ending it.
        readers.read(|c| c.execute_batch("BEGIN; SELECT * FROM t").map_err(map_err)).unwrap();
        writer.execute("INSERT INTO t (k) VALUES (1)", []).unwrap();
        assert_eq!(readers.read(count).unwrap(), 1, "a later read saw an old snapshot");
    }
}
