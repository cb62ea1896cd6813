//! The scale-out store: PostgreSQL, shared by any number of stateless `kassa serve` processes.
//!
//! * Money paths are single transactions with conditional updates (`balance >= charge` in the
//!   `UPDATE` itself), so concurrent nodes can never overdraw a wallet.
//! * Orders are placed through `kassa_place_orders`, one round trip and one commit for every
//!   order queued on this node at that moment (group commit; see [`orders`]).
//! * The key lookups of signed requests are batched the same way, one query for every lookup
//!   queued at that moment (see [`keys`]).
//! * Serialization failures and deadlocks are retried a bounded number of times, then reported as
//!   [`StoreError::Contention`].
//! * Every wait is bounded: acquiring a connection, connecting, and each statement
//!   (`statement_timeout`). An unreachable database answers [`StoreError::Unavailable`] quickly,
//!   and the pool makes fresh connections once it is back.

mod fulfilment;
mod keys;
mod orders;
mod profile;
mod rows;
mod sql;
mod webhooks;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use kassa_core::profile::ProfileChanges;
use kassa_core::{Currency, CustomerId, OrderId};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

pub use sql::{ledger_page_sql, order_page_sql, upstream_page_sql};
pub use webhooks::delivery_page_sql;

use crate::migrate::{compare, Migration, SchemaState};
use crate::model::*;
use crate::{rules, Store, StoreError, StoreKind, StoreResult};

const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../../migrations/postgres/0001_init.sql") },
    Migration { version: 2, name: "profile", sql: include_str!("../../migrations/postgres/0002_profile.sql") },
    Migration { version: 3, name: "fulfilment", sql: include_str!("../../migrations/postgres/0003_fulfilment.sql") },
    Migration { version: 4, name: "signatures", sql: include_str!("../../migrations/postgres/0004_signatures.sql") },
    Migration {
        version: 5,
        name: "order_counts",
        sql: include_str!("../../migrations/postgres/0005_order_counts.sql"),
    },
    Migration {
        version: 6,
        name: "deliveries_by_state",
        sql: include_str!("../../migrations/postgres/0006_deliveries_by_state.sql"),
    },
    Migration { version: 7, name: "refill_keys", sql: include_str!("../../migrations/postgres/0007_refill_keys.sql") },
    Migration {
        version: 8,
        name: "ledger_by_reference",
        sql: include_str!("../../migrations/postgres/0008_ledger_by_reference.sql"),
    },
    Migration {
        version: 9,
        name: "stranded_queued",
        sql: include_str!("../../migrations/postgres/0009_stranded_queued.sql"),
    },
];

/// How to reach PostgreSQL and how long to wait for it.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub url: String,
    /// The wallet currency for a new database; for an existing one it must match (or be `None`).
    pub currency: Option<Currency>,
    /// Connections this process keeps at most.
    pub pool_size: usize,
    /// Longest wait for a free connection from the pool.
    pub acquire_timeout: Duration,
    /// Longest wait to open a new connection.
    pub connect_timeout: Duration,
    /// Longest a single statement may run (server-side `statement_timeout`).
    pub statement_timeout: Duration,
    /// Attempts of a transaction that hits a serialization failure or deadlock.
    pub max_attempts: u32,
    /// Most orders placed in one transaction.
    pub max_batch: usize,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            currency: None,
            pool_size: 16,
            acquire_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            max_attempts: 5,
            max_batch: 128,
        }
    }

    /// Longest the client waits for the answer to a read or an order batch before it takes the
    /// database for hung (stopped, or cut off without a reset): twice the statement timeout,
    /// which a database that answers enforces itself.
    pub(crate) fn answer_bound(&self) -> Duration {
        self.statement_timeout * 2
    }
}

/// `work`, or [`StoreError::Unavailable`] when the database has not answered within `bound`.
/// The caller must not reuse the connection after that (see [`release`]): it is mid-query.
async fn bounded<T>(bound: Duration, work: impl std::future::Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::time::timeout(bound, work).await.unwrap_or_else(|_| {
        Err(StoreError::Unavailable(format!("no answer from PostgreSQL within {} ms", bound.as_millis())))
    })
}

pub struct PostgresStore {
    pool: Pool,
    currency: Currency,
    description: String,
    options: PostgresOptions,
    orders: orders::OrderLanes,
    keys: keys::KeyLookups,
}

/// The driver's error with the server's message (its `Display` alone says only "db error").
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!(
            "{} ({}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

/// Maps driver errors by what the caller should do about them.
pub(crate) fn map_err(error: tokio_postgres::Error) -> StoreError {
    let text = describe(&error);
    match error.code() {
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
            StoreError::Contention(text)
        }
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(text),
        Some(code) if *code == SqlState::CHECK_VIOLATION => StoreError::Invalid(text),
        Some(code)
            if *code == SqlState::QUERY_CANCELED
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::DISK_FULL
                || *code == SqlState::OUT_OF_MEMORY
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
                || code.code().starts_with("08") =>
        {
            StoreError::Unavailable(text)
        }
        Some(_) => StoreError::Internal(text),
        // No SQL state: the connection broke, timed out or could not be made.
        None => StoreError::Unavailable(text),
    }
}

fn map_pool_err(error: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {error}"))
}

type Client = deadpool_postgres::Object;

impl PostgresStore {
    /// Connects, checks the schema (refusing a missing, older or newer one) and settles the
    /// currency. Does not migrate: that is `kassa migrate`'s job.
    pub async fn open(options: PostgresOptions) -> StoreResult<Self> {
        // Below two, the key lookups' own connection would take the process past its pool size.
        if options.pool_size < 2 {
            return Err(StoreError::Invalid(format!(
                "a pool of {} connections; at least 2 are needed",
                options.pool_size
            )));
        }
        let key_connections = (options.pool_size / 4).max(1);
        let pool = build_pool(&options, options.pool_size.saturating_sub(key_connections).max(1), false)?;
        let client = pool.get().await.map_err(map_pool_err)?;
        let applied = applied_migrations(&client).await?;
        match compare(&applied, MIGRATIONS)? {
            SchemaState::Current => {}
            SchemaState::Behind { pending } => {
                return Err(StoreError::Schema(format!(
                    "{} lacks schema migrations {pending:?}; run `kassa migrate` first",
                    kassa_core::redact::redact_url(&options.url)
                )))
            }
        }
        let currency = settle_currency(&client, options.currency.as_ref()).await?;
        drop(client);
        let description = kassa_core::redact::redact_url(&options.url);
        let orders = orders::OrderLanes::start(pool.clone(), &options, currency.clone());
        let keys = keys::KeyLookups::start(
            build_pool(&options, key_connections, true)?,
            options.acquire_timeout + options.statement_timeout,
            options.answer_bound(),
        );
        Ok(Self { pool, currency, description, options, orders, keys })
    }

    /// Applies pending migrations (under an advisory lock, so two nodes migrating at once take
    /// turns) and reports which ran.
    pub async fn migrate(options: &PostgresOptions) -> StoreResult<Vec<i64>> {
        let pool = build_pool(options, 1, false)?;
        let mut client = pool.get().await.map_err(map_pool_err)?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.execute("SELECT pg_advisory_xact_lock(7244901)", &[]).await.map_err(map_err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS kassa_schema (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await
        .map_err(map_err)?;
        let applied: Vec<i64> = tx
            .query("SELECT version FROM kassa_schema", &[])
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let pending = match compare(&applied, MIGRATIONS)? {
            SchemaState::Current => Vec::new(),
            SchemaState::Behind { pending } => pending,
        };
        for migration in MIGRATIONS.iter().filter(|m| pending.contains(&m.version)) {
            tx.batch_execute(migration.sql).await.map_err(|e| {
                StoreError::Schema(format!("migration {} ({}) failed: {e}", migration.version, migration.name))
            })?;
            tx.execute(
                "INSERT INTO kassa_schema (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&migration.version, &migration.name, &now_millis()],
            )
            .await
            .map_err(map_err)?;
            tracing::info!(version = migration.version, name = migration.name, "applied PostgreSQL migration");
        }
        tx.commit().await.map_err(map_err)?;
        Ok(pending)
    }

    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    async fn client(&self) -> StoreResult<Client> {
        self.pool.get().await.map_err(map_pool_err)
    }
}

/// A connection that failed with "unavailable" is broken or the server is gone: it must not go
/// back into the pool, so the next request gets a fresh one.
fn release<T>(result: StoreResult<T>, client: Client) -> StoreResult<T> {
    if result.as_ref().is_err_and(StoreError::is_unavailable) {
        let _ = deadpool_postgres::Object::take(client);
    }
    result
}

/// Runs one read on a pooled connection, bounded by [`PostgresOptions::answer_bound`]:
/// `read!(self, c => sql::customer(&c, id))`.
macro_rules! read {
    ($store:expr, $client:ident => $work:expr) => {{
        let $client = $store.client().await?;
        let result = bounded($store.options.answer_bound(), $work).await;
        release(result, $client)
    }};
}

/// Runs `$work` in a transaction, retrying serialization failures and deadlocks with jittered
/// backoff up to `max_attempts` times: `in_transaction!(self, tx => sql::x(&tx, ...))`. Each
/// attempt, commit included, is bounded by [`PostgresOptions::answer_bound`] unless the call
/// names its own (`in_transaction!(self, bound = d, tx => ...)`); an attempt cut off before its
/// commit was sent never commits (its connection is dropped, so PostgreSQL rolls it back).
macro_rules! in_transaction {
    ($store:expr, $tx:ident => $work:expr) => {
        in_transaction!($store, bound = $store.options.answer_bound(), $tx => $work)
    };
    ($store:expr, bound = $bound:expr, $tx:ident => $work:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = $store.client().await?;
            let outcome = bounded($bound, async {
                let $tx = client.transaction().await.map_err(map_err)?;
                let value = $work.await?;
                $tx.commit().await.map_err(map_err)?;
                Ok(value)
            })
            .await;
            match release(outcome, client) {
                Err(StoreError::Contention(cause)) if attempt < $store.options.max_attempts => {
                    tracing::debug!(attempt, %cause, "retrying a transaction after contention");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => break other,
            }
        }
    }};
}

/// Jittered exponential backoff: ~10 ms, 20 ms, 40 ms, ... capped at 500 ms.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 10u64.saturating_mul(1 << attempt.min(6)).min(500);
    let jitter = u64::from(kassa_core::ids::random_bytes::<1>()[0]) % base.max(1);
    Duration::from_millis(base / 2 + jitter / 2)
}

/// A pool of `size` connections. `generic_plans` makes PostgreSQL plan each prepared statement
/// once instead of at every execution (see [`keys`] for the one place that needs it).
fn build_pool(options: &PostgresOptions, size: usize, generic_plans: bool) -> StoreResult<Pool> {
    let mut config: tokio_postgres::Config = options
        .url
        .parse()
        .map_err(|e| StoreError::Schema(format!("{}: {e}", kassa_core::redact::redact_url(&options.url))))?;
    config.connect_timeout(options.connect_timeout);
    let plans = if generic_plans { " -c plan_cache_mode=force_generic_plan" } else { "" };
    config.options(format!("-c statement_timeout={}{plans}", options.statement_timeout.as_millis()));
    config.application_name("kassa");
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        .build()
        .map_err(|e| StoreError::Internal(format!("building the connection pool: {e}")))
}

async fn applied_migrations(client: &Client) -> StoreResult<Vec<i64>> {
    let exists: bool =
        client.query_one("SELECT to_regclass('kassa_schema') IS NOT NULL", &[]).await.map_err(map_err)?.get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client.query("SELECT version FROM kassa_schema ORDER BY version", &[]).await.map_err(map_err)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// As in the SQLite store: the currency is written once and checked on every later open.
async fn settle_currency(client: &Client, configured: Option<&Currency>) -> StoreResult<Currency> {
    let rows = client
        .query("SELECT key, value FROM settings WHERE key IN ('currency', 'currency_decimals')", &[])
        .await
        .map_err(map_err)?;
    let get = |name: &str| rows.iter().find(|r| r.get::<_, &str>(0) == name).map(|r| r.get::<_, String>(1));
    match (get("currency"), get("currency_decimals")) {
        (Some(code), Some(decimals)) => {
            let decimals: u8 =
                decimals.parse().map_err(|_| StoreError::Internal("bad currency_decimals setting".into()))?;
            let stored = Currency::new(&code, decimals).map_err(|e| StoreError::Internal(e.to_string()))?;
            if let Some(configured) = configured.filter(|c| *c != &stored) {
                return Err(StoreError::Schema(format!(
                    "the database keeps money in {} with {} decimals but the configuration asks for {} with {}; \
                     the currency cannot change once wallets exist",
                    stored.code(),
                    stored.decimals(),
                    configured.code(),
                    configured.decimals()
                )));
            }
            Ok(stored)
        }
        _ => {
            let currency = configured.cloned().unwrap_or_else(Currency::usd);
            client
                .execute(
                    "INSERT INTO settings (key, value) VALUES ('currency', $1), ('currency_decimals', $2)
                     ON CONFLICT (key) DO NOTHING",
                    &[&currency.code(), &currency.decimals().to_string()],
                )
                .await
                .map_err(map_err)?;
            // Another node may have settled it first; read back what won.
            Box::pin(settle_currency(client, Some(&currency))).await
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn currency(&self) -> &Currency {
        &self.currency
    }

    async fn ping(&self) -> StoreResult<()> {
        read!(self, c => async { c.simple_query("SELECT 1").await.map(|_| ()).map_err(map_err) })
    }

    async fn create_customer(&self, new: NewCustomer) -> StoreResult<Customer> {
        in_transaction!(self, tx => sql::create_customer(&tx, &new, now_millis()))
    }

    async fn customer(&self, id: CustomerId) -> StoreResult<Option<Customer>> {
        read!(self, c => sql::customer(&c, id))
    }

    async fn list_customers(&self) -> StoreResult<Vec<Customer>> {
        read!(self, c => sql::list_customers(&c))
    }

    async fn set_customer_status(&self, id: CustomerId, status: CustomerStatus) -> StoreResult<Customer> {
        in_transaction!(self, tx => sql::set_customer_status(&tx, id, status, now_millis()))
    }

    async fn update_profile(&self, id: CustomerId, changes: ProfileChanges) -> StoreResult<Customer> {
        in_transaction!(self, tx => profile::update_profile(&tx, id, &changes, now_millis()))
    }

    async fn submit_verification(&self, new: NewVerification) -> StoreResult<VerificationRecord> {
        in_transaction!(self, tx => profile::submit_verification(&tx, &new, now_millis()))
    }

    async fn latest_verification(&self, customer: CustomerId) -> StoreResult<Option<VerificationRecord>> {
        read!(self, c => profile::latest_verification(&c, customer))
    }

    async fn verification(&self, id: i64) -> StoreResult<Option<VerificationRecord>> {
        read!(self, c => profile::verification(&c, id))
    }

    async fn list_verifications(&self, filter: VerificationFilter) -> StoreResult<Vec<VerificationRecord>> {
        read!(self, c => profile::list_verifications(&c, &filter))
    }

    async fn verification_document(&self, id: i64, slot: DocumentSlot) -> StoreResult<Option<SealedDocument>> {
        read!(self, c => profile::verification_document(&c, id, slot))
    }

    async fn review_verification(&self, review: Review) -> StoreResult<VerificationRecord> {
        in_transaction!(self, tx => profile::review_verification(&tx, &review, now_millis()))
    }

    async fn verification_audit(&self, id: i64) -> StoreResult<Vec<AuditEntry>> {
        read!(self, c => profile::verification_audit(&c, id))
    }

    async fn wallet(&self, id: CustomerId) -> StoreResult<Wallet> {
        read!(self, c => sql::wallet(&c, id))
    }

    async fn post_ledger_entry(&self, entry: NewLedgerEntry) -> StoreResult<Posted> {
        in_transaction!(self, tx => sql::post_ledger_entry(&tx, &entry, now_millis()))
    }

    async fn ledger(&self, id: CustomerId, limit: u32) -> StoreResult<Vec<LedgerEntry>> {
        read!(self, c => sql::ledger(&c, id, limit))
    }

    async fn audit_books(&self) -> StoreResult<BooksReport> {
        // The audit sets its own statement timeout, far above the requests' (see `sql`).
        in_transaction!(self, bound = sql::AUDIT_STATEMENT_TIMEOUT * 2, tx => sql::audit_books(&tx))
    }

    async fn create_api_key(&self, new: NewApiKey) -> StoreResult<ApiKeyRecord> {
        in_transaction!(self, tx => sql::create_api_key(&tx, &new, now_millis()))
    }

    async fn auth_record(&self, api_key: &str) -> StoreResult<Option<AuthRecord>> {
        self.keys.find(api_key).await
    }

    async fn set_api_key_status(&self, api_key: &str, status: KeyStatus) -> StoreResult<ApiKeyRecord> {
        in_transaction!(self, tx => sql::set_api_key_status(&tx, api_key, status, now_millis()))
    }

    async fn list_api_keys(&self, customer: Option<CustomerId>) -> StoreResult<Vec<ApiKeyRecord>> {
        read!(self, c => sql::list_api_keys(&c, customer))
    }

    async fn create_service(&self, new: NewService) -> StoreResult<ServiceRecord> {
        in_transaction!(self, tx => sql::create_service(&tx, &new, now_millis()))
    }

    async fn update_service(&self, id: i64, patch: ServicePatch) -> StoreResult<ServiceRecord> {
        let updated = in_transaction!(self, tx => sql::update_service(&tx, id, &patch, now_millis()))?;
        self.orders.forget_service(id);
        Ok(updated)
    }

    async fn services(&self, active_only: bool) -> StoreResult<Vec<ServiceRecord>> {
        read!(self, c => sql::services(&c, active_only))
    }

    async fn create_order(&self, new: NewOrder) -> StoreResult<OrderPlaced> {
        self.orders.place(&self.pool, new).await
    }

    async fn order(&self, customer: Option<CustomerId>, id: &OrderId) -> StoreResult<Option<OrderRecord>> {
        read!(self, c => sql::order(&c, customer, id))
    }

    async fn order_by_idempotency_key(
        &self,
        customer: CustomerId,
        idempotency_key: &str,
    ) -> StoreResult<Option<OrderRecord>> {
        read!(self, c => async { Ok(sql::order_by_key(&c, customer, idempotency_key).await?.map(|(order, _)| order)) })
    }

    async fn list_orders(&self, filter: OrderFilter) -> StoreResult<OrderPage> {
        read!(self, c => sql::list_orders(&c, &filter))
    }

    async fn change_order(&self, id: &OrderId, change: StatusChange) -> StoreResult<OrderRecord> {
        in_transaction!(self, tx => sql::change_order(&tx, &self.currency, id, &change, now_millis()))
    }

    async fn cancel_order(&self, customer: Option<CustomerId>, id: &OrderId) -> StoreResult<CancelOutcome> {
        in_transaction!(self, tx => fulfilment::cancel_order(&tx, &self.currency, customer, id, now_millis()))
    }

    async fn create_refill(
        &self,
        id: &OrderId,
        provider_refill_id: Option<String>,
        status: &str,
    ) -> StoreResult<RefillRecord> {
        let provider_refill_id = provider_refill_id.as_deref();
        in_transaction!(self, tx => fulfilment::create_refill(&tx, id, provider_refill_id, status, now_millis()))
    }

    async fn reserve_refill(
        &self,
        id: &OrderId,
        idempotency_key: &str,
        stale_after: Duration,
    ) -> StoreResult<RefillReservation> {
        let now = now_millis();
        let stale_before = now - stale_after.as_millis() as i64;
        in_transaction!(self, tx => fulfilment::reserve_refill(&tx, id, idempotency_key, stale_before, now))
    }

    async fn settle_refill(
        &self,
        hold: RefillHold,
        provider_refill_id: Option<String>,
        status: &str,
    ) -> StoreResult<RefillRecord> {
        let provider_refill_id = provider_refill_id.as_deref();
        in_transaction!(self, tx => fulfilment::settle_refill(&tx, hold, provider_refill_id, status))
    }

    async fn release_refill(&self, hold: RefillHold) -> StoreResult<()> {
        in_transaction!(self, tx => fulfilment::release_refill(&tx, hold))
    }

    async fn refills(&self, filter: RefillFilter) -> StoreResult<Vec<RefillRecord>> {
        read!(self, c => fulfilment::refills(&c, &filter))
    }

    async fn close_refill(&self, refill: i64, status: &str) -> StoreResult<RefillRecord> {
        in_transaction!(self, tx => fulfilment::close_refill(&tx, refill, status))
    }

    async fn create_provider(&self, new: NewProvider) -> StoreResult<ProviderRecord> {
        in_transaction!(self, tx => fulfilment::create_provider(&tx, &new, now_millis()))
    }

    async fn providers(&self) -> StoreResult<Vec<ProviderRecord>> {
        read!(self, c => fulfilment::providers(&c))
    }

    async fn claim_submissions(&self, limit: u32, lease: Duration) -> StoreResult<Claimed> {
        let now = now_millis();
        let until = now + lease.as_millis() as i64;
        let orders = in_transaction!(self, tx => fulfilment::claim_submissions(&tx, limit, until, now))?;
        Ok(Claimed { until, orders })
    }

    async fn record_submission(
        &self,
        id: &OrderId,
        claimed_until: Millis,
        submission: Submission,
        poll_at: Millis,
    ) -> StoreResult<OrderRecord> {
        in_transaction!(self, tx => {
            fulfilment::record_submission(&tx, &self.currency, id, claimed_until, &submission, poll_at, now_millis())
        })
    }

    async fn claim_polls(&self, limit: u32, ahead: Duration, lease: Duration) -> StoreResult<Claimed> {
        let now = now_millis();
        let (due_by, lease_until) = rules::poll_window(now, ahead, lease);
        let orders = in_transaction!(self, tx => fulfilment::claim_polls(&tx, limit, lease_until, due_by))?;
        Ok(Claimed { until: lease_until, orders })
    }

    async fn record_poll(
        &self,
        id: &OrderId,
        claimed_until: Millis,
        change: StatusChange,
        next_poll_at: Millis,
    ) -> StoreResult<OrderRecord> {
        in_transaction!(self, tx => {
            fulfilment::record_poll(&tx, &self.currency, id, claimed_until, &change, next_poll_at, now_millis())
        })
    }

    async fn resolve_review(&self, id: &OrderId, resolution: Resolution) -> StoreResult<OrderRecord> {
        in_transaction!(self, tx => fulfilment::resolve_review(&tx, &self.currency, id, &resolution, now_millis()))
    }

    async fn create_webhook(&self, new: NewWebhook) -> StoreResult<WebhookRecord> {
        in_transaction!(self, tx => webhooks::create_webhook(&tx, &new, now_millis()))
    }

    async fn webhooks(&self, customer: Option<CustomerId>) -> StoreResult<Vec<WebhookRecord>> {
        read!(self, c => webhooks::webhooks(&c, customer))
    }

    async fn delete_webhook(&self, customer: Option<CustomerId>, id: i64) -> StoreResult<()> {
        in_transaction!(self, tx => webhooks::delete_webhook(&tx, customer, id, now_millis()))
    }

    async fn claim_deliveries(&self, limit: u32, lease: Duration) -> StoreResult<Vec<DeliveryJob>> {
        let now = now_millis();
        in_transaction!(self, tx => webhooks::claim_deliveries(&tx, limit, now + lease.as_millis() as i64, now))
    }

    async fn record_delivery(
        &self,
        id: i64,
        claimed_until: Millis,
        attempt: DeliveryAttempt,
    ) -> StoreResult<Option<DeliveryRecord>> {
        in_transaction!(self, tx => webhooks::record_delivery(&tx, id, claimed_until, &attempt, now_millis()))
    }

    async fn deliveries(&self, filter: DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>> {
        read!(self, c => webhooks::deliveries(&c, &filter))
    }

    async fn replay_delivery(&self, id: i64) -> StoreResult<DeliveryRecord> {
        in_transaction!(self, tx => webhooks::replay_delivery(&tx, id, now_millis()))
    }
}
