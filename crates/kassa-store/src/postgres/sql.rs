//! Every statement of the PostgreSQL store except order placement (see `orders.rs`). Write
//! functions take a transaction; read functions any client.

use deadpool_postgres::GenericClient;
use kassa_core::catalog::OrderRefusal;
use kassa_core::ids::{generate_user_id, OrderId};
use kassa_core::{Currency, CustomerId, Minor};
use tokio_postgres::error::SqlState;

use super::map_err;
use super::rows::{self, *};
use crate::model::*;
use crate::rules::{self, join_list};
use crate::{StoreError, StoreResult};

/// How many times a random id is redrawn after a collision before giving up.
const ID_ATTEMPTS: usize = 5;

/// The name of the constraint a unique violation hit, if that is what `error` is.
fn violated_constraint(error: &tokio_postgres::Error) -> Option<&str> {
    let db = error.as_db_error()?;
    (db.code() == &SqlState::UNIQUE_VIOLATION).then(|| db.constraint().unwrap_or(""))
}

fn collect<T>(
    rows: Vec<tokio_postgres::Row>,
    map: impl Fn(&tokio_postgres::Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    rows.iter().map(map).collect()
}

// ---------------------------------------------------------------------------------------------
// Customers

pub async fn create_customer(tx: &impl GenericClient, new: &NewCustomer, now: Millis) -> StoreResult<Customer> {
    for _ in 0..ID_ATTEMPTS {
        // A savepoint per attempt: a failed INSERT would otherwise abort the whole transaction.
        tx.batch_execute("SAVEPOINT customer_insert").await.map_err(map_err)?;
        let inserted = tx
            .query_one(
                &format!(
                    "INSERT INTO customers (user_id, email, first_name, last_name, phone, chat_status, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, '1', $6, $6) RETURNING {CUSTOMER_COLUMNS}"
                ),
                &[&generate_user_id(), &new.email, &new.first_name, &new.last_name, &new.phone, &now],
            )
            .await;
        match inserted {
            Ok(row) => {
                let customer = rows::customer(&row)?;
                tx.execute(
                    "INSERT INTO wallets (customer_id, balance, updated_at) VALUES ($1, 0, $2)",
                    &[&customer.id.0, &now],
                )
                .await
                .map_err(map_err)?;
                return Ok(customer);
            }
            Err(e) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT customer_insert").await.map_err(map_err)?;
                match violated_constraint(&e) {
                    Some(c) if c.contains("user_id") => continue,
                    Some(c) if c.contains("email") => {
                        return Err(StoreError::Conflict(format!("a customer with email {} already exists", new.email)))
                    }
                    _ => return Err(map_err(e)),
                }
            }
        }
    }
    Err(StoreError::Internal("could not draw a unique user_id".into()))
}

pub async fn customer(c: &impl GenericClient, id: CustomerId) -> StoreResult<Option<Customer>> {
    let stmt =
        c.prepare_cached(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1")).await.map_err(map_err)?;
    c.query_opt(&stmt, &[&id.0]).await.map_err(map_err)?.as_ref().map(rows::customer).transpose()
}

pub async fn list_customers(c: &impl GenericClient) -> StoreResult<Vec<Customer>> {
    let rows = c.query(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY id"), &[]).await.map_err(map_err)?;
    collect(rows, rows::customer)
}

pub async fn set_customer_status(
    tx: &impl GenericClient,
    id: CustomerId,
    status: CustomerStatus,
    now: Millis,
) -> StoreResult<Customer> {
    let row = tx
        .query_opt(
            &format!("UPDATE customers SET status = $1, updated_at = $2 WHERE id = $3 RETURNING {CUSTOMER_COLUMNS}"),
            &[&status.as_str(), &now, &id.0],
        )
        .await
        .map_err(map_err)?;
    row.as_ref().map(rows::customer).transpose()?.ok_or_else(|| StoreError::NotFound(format!("customer {id}")))
}

// ---------------------------------------------------------------------------------------------
// Wallets and the ledger

pub async fn wallet(c: &impl GenericClient, id: CustomerId) -> StoreResult<Wallet> {
    let stmt = c.prepare_cached("SELECT balance FROM wallets WHERE customer_id = $1").await.map_err(map_err)?;
    let row = c.query_opt(&stmt, &[&id.0]).await.map_err(map_err)?;
    row.map(|r| Wallet { customer_id: id, balance: Minor(r.get(0)) })
        .ok_or_else(|| StoreError::NotFound(format!("customer {id}")))
}

/// Adds `delta` if the result stays at or above zero; `None` if it would not. The condition is
/// in the `UPDATE`, which PostgreSQL re-checks after waiting for a concurrent writer's row lock.
pub async fn move_balance(
    tx: &impl GenericClient,
    id: CustomerId,
    delta: Minor,
    now: Millis,
) -> StoreResult<Option<Minor>> {
    let stmt = tx
        .prepare_cached(
            "UPDATE wallets SET balance = balance + $1, updated_at = $3
             WHERE customer_id = $2 AND balance + $1 >= 0 RETURNING balance",
        )
        .await
        .map_err(map_err)?;
    Ok(tx.query_opt(&stmt, &[&delta.0, &id.0, &now]).await.map_err(map_err)?.map(|r| Minor(r.get(0))))
}

#[allow(clippy::too_many_arguments)]
async fn insert_ledger(
    tx: &impl GenericClient,
    id: CustomerId,
    kind: LedgerKind,
    amount: Minor,
    balance_after: Minor,
    reference: &str,
    order_id: Option<&str>,
    note: Option<&str>,
    now: Millis,
) -> StoreResult<LedgerEntry> {
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO ledger_entries (customer_id, kind, amount, balance_after, reference, order_id, note, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {LEDGER_COLUMNS}"
        ))
        .await
        .map_err(map_err)?;
    match tx
        .query_one(&stmt, &[&id.0, &kind.as_str(), &amount.0, &balance_after.0, &reference, &order_id, &note, &now])
        .await
    {
        Ok(row) => rows::ledger_entry(&row),
        Err(e) if violated_constraint(&e).is_some_and(|c| c.contains("reference")) => {
            Err(StoreError::Conflict(format!("ledger reference {reference:?} was already used")))
        }
        Err(e) => Err(map_err(e)),
    }
}

pub async fn post_ledger_entry(tx: &impl GenericClient, entry: &NewLedgerEntry, now: Millis) -> StoreResult<Posted> {
    rules::check_operator_entry(entry)?;
    // Posts of one reference take turns, so the later one sees the earlier one's entry (this
    // transaction reads committed rows statement by statement) and replays it instead of
    // running into the unique reference as a conflict. The lock ends with the transaction.
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('ledger-reference:' || $1))", &[&entry.reference])
        .await
        .map_err(map_err)?;
    let existing = tx
        .query_opt(&format!("SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE reference = $1"), &[&entry.reference])
        .await
        .map_err(map_err)?;
    if let Some(row) = existing {
        return rules::replayed_entry(rows::ledger_entry(&row)?, entry);
    }
    let Some(balance_after) = move_balance(tx, entry.customer_id, entry.amount, now).await? else {
        return Err(rules::uncovered_adjustment(wallet(tx, entry.customer_id).await?.balance, entry.amount));
    };
    let entry = insert_ledger(
        tx,
        entry.customer_id,
        entry.kind,
        entry.amount,
        balance_after,
        &entry.reference,
        None,
        entry.note.as_deref(),
        now,
    )
    .await?;
    Ok(Posted { entry, replayed: false })
}

pub async fn ledger(c: &impl GenericClient, id: CustomerId, limit: u32) -> StoreResult<Vec<LedgerEntry>> {
    let rows = c.query(&ledger_page_sql(), &[&id.0, &i64::from(limit)]).await.map_err(map_err)?;
    collect(rows, rows::ledger_entry)
}

/// Longest a single check of the books audit may run.
pub(crate) const AUDIT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

pub async fn audit_books(tx: &impl GenericClient) -> StoreResult<BooksReport> {
    use rules::audit::*;
    // One snapshot for every check. The checks read every order and ledger row: a shop with a
    // million orders needs more than the statement timeout meant for requests (5 s by default),
    // so the audit gets its own, still bounded.
    tx.batch_execute(&format!(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL statement_timeout = {}",
        AUDIT_STATEMENT_TIMEOUT.as_millis()
    ))
    .await
    .map_err(map_err)?;
    let count = async |sql: &str| -> StoreResult<u64> {
        Ok(tx.query_one(sql, &[]).await.map_err(map_err)?.get::<_, i64>(0) as u64)
    };
    let ids = async |sql: &str| -> StoreResult<Vec<i64>> {
        Ok(tx.query(sql, &[]).await.map_err(map_err)?.iter().map(|r| r.get(0)).collect())
    };
    let texts = async |sql: &str| -> StoreResult<Vec<String>> {
        Ok(tx.query(sql, &[]).await.map_err(map_err)?.iter().map(|r| r.get(0)).collect())
    };
    Ok(BooksReport {
        wallets: count(COUNT_WALLETS).await?,
        orders: count(COUNT_ORDERS).await?,
        ledger_entries: count(COUNT_LEDGER).await?,
        balance_mismatches: ids(BALANCE_MISMATCHES).await?,
        orders_without_one_charge: texts(ORDERS_WITHOUT_ONE_CHARGE).await?,
        entries_without_order: texts(ENTRIES_WITHOUT_ORDER).await?,
        refund_mismatches: texts(REFUND_MISMATCHES).await?,
        negative_balances: ids(NEGATIVE_BALANCES).await?,
        order_count_mismatches: ids(ORDER_COUNT_MISMATCHES).await?,
    })
}

// ---------------------------------------------------------------------------------------------
// API keys

pub async fn create_api_key(tx: &impl GenericClient, new: &NewApiKey, now: Millis) -> StoreResult<ApiKeyRecord> {
    if customer(tx, new.customer_id).await?.is_none() {
        return Err(StoreError::NotFound(format!("customer {}", new.customer_id)));
    }
    let inserted = tx
        .query_one(
            &format!(
                "INSERT INTO api_keys AS k (api_key, customer_id, secret_sealed, status, allowed_ips, allowed_services,
                                            rate_limit_per_minute, created_at, updated_at)
                 VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $7) RETURNING {KEY_COLUMNS}"
            ),
            &[
                &new.api_key,
                &new.customer_id.0,
                &new.secret_sealed,
                &join_list(&new.allowed_ips),
                &join_list(&new.allowed_services),
                &(new.rate_limit_per_minute.min(i32::MAX as u32) as i32),
                &now,
            ],
        )
        .await;
    match inserted {
        Ok(row) => rows::api_key(&row),
        Err(e) if violated_constraint(&e).is_some() => Err(StoreError::Conflict("API key already exists".into())),
        Err(e) => Err(map_err(e)),
    }
}

async fn api_key_by_value(c: &impl GenericClient, api_key: &str) -> StoreResult<Option<ApiKeyRecord>> {
    let row = c
        .query_opt(&format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.api_key = $1"), &[&api_key])
        .await
        .map_err(map_err)?;
    row.as_ref().map(rows::api_key).transpose()
}

/// The authentication records of these keys (those that exist), in one query.
///
/// Written as one indexed lookup per key (`LATERAL ... LIMIT 1` keeps the planner from
/// flattening it): as a plain `api_key = ANY($1)` join the planner hashes the whole wallets table
/// once a batch has a few dozen keys, six times slower than the lookups.
pub async fn auth_records(c: &impl GenericClient, api_keys: &[&str]) -> StoreResult<Vec<AuthRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT r.* FROM unnest($1::text[]) AS wanted(api_key) CROSS JOIN LATERAL (
                 SELECT {KEY_COLUMNS}, k.secret_sealed, c.status AS customer_status, w.balance AS wallet_balance
                 FROM api_keys k LEFT JOIN customers c ON c.id = k.customer_id
                 LEFT JOIN wallets w ON w.customer_id = k.customer_id WHERE k.api_key = wanted.api_key LIMIT 1) r"
        ))
        .await
        .map_err(map_err)?;
    let rows = c.query(&stmt, &[&api_keys]).await.map_err(map_err)?;
    rows.iter()
        .map(|row| {
            let status: Option<&str> = row.get("customer_status");
            Ok(AuthRecord {
                key: rows::api_key(row)?,
                secret_sealed: row.get("secret_sealed"),
                customer_status: status.and_then(|s| s.parse().ok()),
                wallet_balance: row.get::<_, Option<i64>>("wallet_balance").map(Minor),
            })
        })
        .collect()
}

pub async fn set_api_key_status(
    tx: &impl GenericClient,
    api_key: &str,
    status: KeyStatus,
    now: Millis,
) -> StoreResult<ApiKeyRecord> {
    // The revoked check is part of the update: a revoke committed while this waited for the
    // row is seen (the update re-reads a row changed under it), so the key stays revoked.
    let updated = tx
        .execute(
            "UPDATE api_keys SET status = $1, updated_at = $2
             WHERE api_key = $3 AND (status <> 'revoked' OR $1 = 'revoked')",
            &[&status.as_str(), &now, &api_key],
        )
        .await
        .map_err(map_err)?;
    let key = api_key_by_value(tx, api_key).await?.ok_or_else(|| StoreError::NotFound(format!("API key {api_key}")))?;
    match updated {
        0 => Err(rules::revoked_stays_revoked()),
        _ => Ok(key),
    }
}

pub async fn list_api_keys(c: &impl GenericClient, customer: Option<CustomerId>) -> StoreResult<Vec<ApiKeyRecord>> {
    let rows = c
        .query(
            &format!(
                "SELECT {KEY_COLUMNS} FROM api_keys k WHERE $1::BIGINT IS NULL OR k.customer_id = $1 ORDER BY k.id"
            ),
            &[&customer.map(|c| c.0)],
        )
        .await
        .map_err(map_err)?;
    collect(rows, rows::api_key)
}

// ---------------------------------------------------------------------------------------------
// Services

pub async fn create_service(tx: &impl GenericClient, new: &NewService, now: Millis) -> StoreResult<ServiceRecord> {
    rules::check_quantity_bounds(new.min, new.max)?;
    let row = tx
        .query_one(
            "INSERT INTO services (name, category, kind, price_per_1000, min_quantity, max_quantity, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $7) RETURNING id",
            &[&new.name, &new.category, &new.kind.as_str(), &new.price_per_1000.decimal(), &(new.min as i64), &(new.max as i64), &now],
        )
        .await
        .map_err(map_err)?;
    service(tx, row.get(0)).await?.ok_or_else(|| StoreError::Internal("service vanished".into()))
}

pub async fn service(c: &impl GenericClient, id: i64) -> StoreResult<Option<ServiceRecord>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {SERVICE_COLUMNS} FROM {SERVICE_FROM} WHERE s.id = $1"))
        .await
        .map_err(map_err)?;
    c.query_opt(&stmt, &[&id]).await.map_err(map_err)?.as_ref().map(rows::service).transpose()
}

pub async fn update_service(
    tx: &impl GenericClient,
    id: i64,
    patch: &ServicePatch,
    now: Millis,
) -> StoreResult<ServiceRecord> {
    let row = tx
        .query_opt(&format!("SELECT {SERVICE_COLUMNS} FROM {SERVICE_FROM} WHERE s.id = $1 FOR UPDATE OF s"), &[&id])
        .await
        .map_err(map_err)?;
    let current =
        row.as_ref().map(rows::service).transpose()?.ok_or_else(|| StoreError::NotFound(format!("service {id}")))?;
    let min = patch.min.unwrap_or(current.min);
    let max = patch.max.unwrap_or(current.max);
    rules::check_quantity_bounds(min, max)?;
    let provider = match &patch.provider {
        Some(Some((provider_id, provider_service))) => {
            let exists =
                tx.query_opt("SELECT 1 FROM providers WHERE id = $1", &[provider_id]).await.map_err(map_err)?;
            exists.ok_or_else(|| StoreError::NotFound(format!("provider {provider_id}")))?;
            Some((*provider_id, provider_service.clone()))
        }
        Some(None) => None,
        None => current.provider_id.zip(current.provider_service.clone()),
    };
    // updated_at is the version orders are quoted against, so it must move on every change.
    let version = now.max(current.updated_at + 1);
    tx.execute(
        "UPDATE services SET name = $1, category = $2, kind = $3, price_per_1000 = $4, min_quantity = $5,
                                 max_quantity = $6, active = $7, updated_at = $8, provider_id = $10,
                                 provider_service = $11, cancel_allowed = $12, refill_allowed = $13
             WHERE id = $9",
        &[
            patch.name.as_ref().unwrap_or(&current.name),
            patch.category.as_ref().unwrap_or(&current.category),
            &patch.kind.unwrap_or(current.kind).as_str(),
            &patch.price_per_1000.unwrap_or(current.price_per_1000).decimal(),
            &(min as i64),
            &(max as i64),
            &patch.active.unwrap_or(current.active),
            &version,
            &id,
            &provider.as_ref().map(|p| p.0),
            &provider.as_ref().map(|p| p.1.as_str()),
            &patch.cancel_allowed.unwrap_or(current.cancel_allowed),
            &patch.refill_allowed.unwrap_or(current.refill_allowed),
        ],
    )
    .await
    .map_err(map_err)?;
    service(tx, id).await?.ok_or_else(|| StoreError::NotFound(format!("service {id}")))
}

pub async fn services(c: &impl GenericClient, active_only: bool) -> StoreResult<Vec<ServiceRecord>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {SERVICE_COLUMNS} FROM {SERVICE_FROM} WHERE s.active OR NOT $1 ORDER BY s.id"))
        .await
        .map_err(map_err)?;
    collect(c.query(&stmt, &[&active_only]).await.map_err(map_err)?, rows::service)
}

// ---------------------------------------------------------------------------------------------
// Orders (placement is in orders.rs)

pub async fn order(
    c: &impl GenericClient,
    customer: Option<CustomerId>,
    id: &OrderId,
) -> StoreResult<Option<OrderRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND ($2::BIGINT IS NULL OR customer_id = $2)"
        ))
        .await
        .map_err(map_err)?;
    c.query_opt(&stmt, &[&id.as_str(), &customer.map(|c| c.0)])
        .await
        .map_err(map_err)?
        .as_ref()
        .map(rows::order)
        .transpose()
}

pub async fn order_by_key(
    c: &impl GenericClient,
    customer: CustomerId,
    key: &str,
) -> StoreResult<Option<(OrderRecord, Vec<u8>)>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS}, request_fingerprint FROM orders WHERE customer_id = $1 AND idempotency_key = $2"
        ))
        .await
        .map_err(map_err)?;
    let Some(row) = c.query_opt(&stmt, &[&customer.0, &key]).await.map_err(map_err)? else { return Ok(None) };
    Ok(Some((rows::order(&row)?, row.get("request_fingerprint"))))
}

/// Whether a new order would reuse the customer's client reference or request signature (the
/// refusal it then gets), checked in the order SQLite checks them.
pub async fn order_reuse(
    c: &impl GenericClient,
    customer: CustomerId,
    client_order_ref: Option<&str>,
    signature: Option<&[u8]>,
) -> StoreResult<Option<OrderRefusal>> {
    let row = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE customer_id = $1 AND client_order_ref = $2),
                    EXISTS (SELECT 1 FROM orders WHERE customer_id = $1 AND request_signature = $3)",
            &[&customer.0, &client_order_ref, &signature],
        )
        .await
        .map_err(map_err)?;
    Ok(match (row.get(0), row.get(1)) {
        (true, _) => Some(OrderRefusal::ClientOrderRefReused),
        (false, true) => Some(OrderRefusal::SignatureReused),
        (false, false) => None,
    })
}

/// The newest entries of one customer's ledger (`$1` customer, `$2` limit), in the form
/// explained at [`order_page_sql`].
pub fn ledger_page_sql() -> String {
    format!(
        "SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE customer_id >= $1 AND customer_id <= $1
         ORDER BY customer_id DESC, id DESC LIMIT $2"
    )
}

/// A page of orders, newest first, with the total of the filter (`$1` customer or NULL, `$2`
/// status or NULL, `$3` limit, `$4` offset): see [`with_total`].
///
/// A filter on one value is written as a range (`customer_id >= $1 AND customer_id <= $1`, the
/// same rows) and repeated in `ORDER BY`, so that the only way to read the page in order is the
/// index that starts with the filtered columns. Written as `customer_id = $1 ... ORDER BY seq
/// DESC`, PostgreSQL may instead walk the primary key backwards and filter: for a customer with
/// a large share of the table it assumes their orders are spread evenly and that a few hundred
/// steps find a page, but when other customers ordered since, the walk passes every newer order
/// of everyone (27,000 pages read for one page of 50 at 1.6M orders, 13 ms instead of 0.1 ms,
/// growing with the table). Public so that tests can ask PostgreSQL for the plan of exactly
/// this statement.
pub fn order_page_sql(customer: bool, status: bool) -> String {
    let (condition, order) = match (customer, status) {
        (true, true) => (
            "customer_id >= $1 AND customer_id <= $1 AND status >= $2 AND status <= $2",
            "customer_id DESC, status DESC, seq DESC",
        ),
        (true, false) => ("customer_id >= $1 AND customer_id <= $1 AND $2::TEXT IS NULL", "customer_id DESC, seq DESC"),
        (false, true) => ("$1::BIGINT IS NULL AND status >= $2 AND status <= $2", "status DESC, seq DESC"),
        (false, false) => ("$1::BIGINT IS NULL AND $2::TEXT IS NULL", "seq DESC"),
    };
    // The total comes from the trigger-kept `order_counts` (see the SQLite twin).
    let counted = match (customer, status) {
        (true, true) => "customer_id = $1 AND status = $2",
        (true, false) => "customer_id = $1 AND $2::TEXT IS NULL",
        (false, true) => "$1::BIGINT IS NULL AND status = $2",
        (false, false) => "$1::BIGINT IS NULL AND $2::TEXT IS NULL",
    };
    with_total(
        &format!("SELECT COALESCE(SUM(count), 0)::BIGINT FROM order_counts WHERE {counted}"),
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {condition} ORDER BY {order} LIMIT $3 OFFSET $4"),
    )
}

/// One statement answering a page and the total it is a page of, so that both come from one
/// snapshot (two statements at READ COMMITTED could count an order the page does not show, or
/// the reverse) and one round trip. Its rows are the page's, newest first, each with `total`;
/// an empty page is one row of NULLs and the total.
fn with_total(total: &str, page: &str) -> String {
    format!(
        "SELECT page.*, total.total FROM ({total}) AS total (total)
         LEFT JOIN LATERAL ({page}) AS page ON true ORDER BY page.seq DESC"
    )
}

/// The rows of a [`with_total`] statement as a page.
fn page_with_total(found: Vec<tokio_postgres::Row>) -> StoreResult<OrderPage> {
    let total = found.first().map_or(0, |r| r.get::<_, i64>("total"));
    let orders = found.iter().filter(|r| r.get::<_, Option<i64>>("seq").is_some()).map(rows::order);
    Ok(OrderPage { orders: orders.collect::<StoreResult<_>>()?, total: total as u64 })
}

/// A page of an operator's order list by upstream state, with its total (`$1` customer or NULL,
/// `$2` status or NULL, `$3` upstream state, `$4` limit, `$5` offset). With a customer the
/// customer is written as a range repeated in `ORDER BY` (see [`order_page_sql`]): the page comes
/// from that customer's orders, not from a walk back through every order in that upstream state.
/// Public so that tests can ask PostgreSQL for the plan of exactly this statement.
pub fn upstream_page_sql(customer: bool, status: bool) -> String {
    let status = if status { "status = $2" } else { "$2::TEXT IS NULL" };
    let (condition, order) = if customer {
        (
            format!("upstream = $3 AND customer_id >= $1 AND customer_id <= $1 AND {status}"),
            "customer_id DESC, seq DESC",
        )
    } else {
        (format!("upstream = $3 AND $1::BIGINT IS NULL AND {status}"), "seq DESC")
    };
    with_total(
        &format!("SELECT COUNT(*) FROM orders WHERE {condition}"),
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {condition} ORDER BY {order} LIMIT $4 OFFSET $5"),
    )
}

pub async fn list_orders(c: &impl GenericClient, filter: &OrderFilter) -> StoreResult<OrderPage> {
    let customer = filter.customer_id.map(|c| c.0);
    let status = filter.status.map(|s| s.as_str());
    let (limit, offset) = (i64::from(filter.limit), filter.offset() as i64);
    let rows = if let Some(upstream) = filter.upstream {
        let page = c.prepare_cached(&upstream_page_sql(customer.is_some(), status.is_some())).await.map_err(map_err)?;
        c.query(&page, &[&customer, &status, &upstream.as_str(), &limit, &offset]).await
    } else {
        // One statement per filter shape, so each uses its own index.
        let page = c.prepare_cached(&order_page_sql(customer.is_some(), status.is_some())).await.map_err(map_err)?;
        c.query(&page, &[&customer, &status, &limit, &offset]).await
    };
    page_with_total(rows.map_err(map_err)?)
}

/// An operator's status change.
pub async fn change_order(
    tx: &impl GenericClient,
    currency: &Currency,
    id: &OrderId,
    change: &StatusChange,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let current = order_for_update(tx, None, id).await?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    rules::operator_change_allowed(&current, change)?;
    apply_change(tx, currency, &current, change, None, now).await
}

/// The order, locked for this transaction (`FOR UPDATE`): two workers changing the same order
/// take turns, so its refund is decided once.
pub async fn order_for_update(
    tx: &impl GenericClient,
    customer: Option<CustomerId>,
    id: &OrderId,
) -> StoreResult<Option<OrderRecord>> {
    let row = tx
        .query_opt(
            &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 AND ($2::BIGINT IS NULL OR customer_id = $2) FOR UPDATE"),
            &[&id.as_str(), &customer.map(|c| c.0)],
        )
        .await
        .map_err(map_err)?;
    row.as_ref().map(rows::order).transpose()
}

/// Applies a status change to `current` (locked by the caller): refund (once), order row,
/// upstream state and the webhook events of the change, in the caller's transaction. An order
/// still being sent keeps its claim, so that the sending worker's answer still decides it.
pub async fn apply_change(
    tx: &impl GenericClient,
    currency: &Currency,
    current: &OrderRecord,
    change: &StatusChange,
    upstream: Option<(Upstream, Option<&str>)>,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let plan = rules::plan_change(current, change)?;
    let id = &current.id;
    if plan.refund.0 > 0 {
        let balance_after = move_balance(tx, current.customer_id, plan.refund, now)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("wallet of customer {}", current.customer_id)))?;
        insert_ledger(
            tx,
            current.customer_id,
            LedgerKind::OrderRefund,
            plan.refund,
            balance_after,
            &rules::refund_reference(id.as_str()),
            Some(id.as_str()),
            Some(plan.status.as_str()),
            now,
        )
        .await?;
    }
    let (upstream, last_error) = rules::upstream_after(current, &plan, upstream);
    let row = tx
        .query_one(
            &format!(
                "UPDATE orders SET status = $1, refunded = $2, smm_status = COALESCE($3, smm_status), remains = $4,
                                   start_count = COALESCE($5, start_count), updated_at = $6, upstream = $8,
                                   last_error = $9,
                                   claimed_until = CASE WHEN $8 = 'submitting' THEN claimed_until END
                 WHERE id = $7 RETURNING {ORDER_COLUMNS}"
            ),
            &[
                &plan.status.as_str(),
                &plan.refunded_total.0,
                &change.smm_status,
                &plan.remains.map(|r| r as i64),
                &change.start_count.map(|r| r as i64),
                &now,
                &id.as_str(),
                &upstream.as_str(),
                &last_error,
            ],
        )
        .await
        .map_err(map_err)?;
    let updated = rows::order(&row)?;
    if updated.status != current.status {
        super::webhooks::enqueue_status_event(tx, currency, &updated, current.status, now).await?;
    }
    Ok(updated)
}
