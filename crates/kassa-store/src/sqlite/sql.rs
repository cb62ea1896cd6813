//! Every statement of the SQLite store. Write functions run inside the writer's transaction (one
//! savepoint each); read functions run on a pooled read connection.

use kassa_core::catalog::OrderRefusal;
use kassa_core::ids::{generate_user_id, OrderId};
use kassa_core::profile::{ProfileChanges, ProfileField};
use kassa_core::verification::{may_submit, VerificationRefusal};
use kassa_core::{Currency, CustomerId, Minor};
use rusqlite::{params, Connection, OptionalExtension};

use super::map_err;
use super::rows::{self, *};
use crate::model::*;
use crate::rules::{self, join_list};
use crate::{StoreError, StoreResult};

/// How many times a random id is redrawn after a collision before giving up.
const ID_ATTEMPTS: usize = 5;

/// Whether `error` is a unique violation naming `constraint`: `table.column` (or a bare column)
/// for an index on columns, partial ones included, the index's name for an index on expressions.
/// SQLite says `UNIQUE constraint failed: orders.customer_id, orders.idempotency_key` or
/// `... failed: index 'customers_email'`; names are compared whole, since `orders.id` is a prefix of
/// `orders.idempotency_key`.
fn is_unique_violation(error: &rusqlite::Error, constraint: &str) -> bool {
    let rusqlite::Error::SqliteFailure(f, Some(msg)) = error else { return false };
    let Some(names) = msg.strip_prefix("UNIQUE constraint failed: ") else { return false };
    f.code == rusqlite::ErrorCode::ConstraintViolation
        && names.split(", ").any(|name| {
            let name = name.strip_prefix("index '").and_then(|n| n.strip_suffix('\'')).unwrap_or(name);
            name == constraint || name.strip_suffix(constraint).is_some_and(|table| table.ends_with('.'))
        })
}

// ---------------------------------------------------------------------------------------------
// Customers

pub fn create_customer(conn: &Connection, new: &NewCustomer, now: Millis) -> StoreResult<Customer> {
    for _ in 0..ID_ATTEMPTS {
        let inserted = conn.execute(
            "INSERT INTO customers (user_id, email, first_name, last_name, phone, chat_status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, '1', ?6, ?6)",
            params![generate_user_id(), new.email, new.first_name, new.last_name, new.phone, now],
        );
        match inserted {
            Ok(_) => {
                let id = CustomerId(conn.last_insert_rowid());
                conn.execute(
                    "INSERT INTO wallets (customer_id, balance, updated_at) VALUES (?1, 0, ?2)",
                    params![id.0, now],
                )
                .map_err(map_err)?;
                return customer(conn, id)?.ok_or_else(|| StoreError::Internal("customer vanished".into()));
            }
            Err(e) if is_unique_violation(&e, "customers.user_id") => continue,
            Err(e) if is_unique_violation(&e, "customers_email") => {
                return Err(StoreError::Conflict(format!("a customer with email {} already exists", new.email)))
            }
            Err(e) => return Err(map_err(e)),
        }
    }
    Err(StoreError::Internal("could not draw a unique user_id".into()))
}

pub fn customer(conn: &Connection, id: CustomerId) -> StoreResult<Option<Customer>> {
    conn.prepare_cached(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id.0], rows::customer).optional())
        .map_err(map_err)
}

pub fn list_customers(conn: &Connection) -> StoreResult<Vec<Customer>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY id")).map_err(map_err)?;
    let rows = stmt.query_map([], rows::customer).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn set_customer_status(
    conn: &Connection,
    id: CustomerId,
    status: CustomerStatus,
    now: Millis,
) -> StoreResult<Customer> {
    let changed = conn
        .execute("UPDATE customers SET status = ?1, updated_at = ?2 WHERE id = ?3", params![status.as_str(), now, id.0])
        .map_err(map_err)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("customer {id}")));
    }
    customer(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("customer {id}")))
}

// ---------------------------------------------------------------------------------------------
// Wallets and the ledger

pub fn wallet(conn: &Connection, id: CustomerId) -> StoreResult<Wallet> {
    conn.prepare_cached("SELECT balance FROM wallets WHERE customer_id = ?1")
        .and_then(|mut s| s.query_row([id.0], |r| r.get::<_, i64>(0)).optional())
        .map_err(map_err)?
        .map(|balance| Wallet { customer_id: id, balance: Minor(balance) })
        .ok_or_else(|| StoreError::NotFound(format!("customer {id}")))
}

/// Adds `delta` to a wallet if the result stays at or above zero; returns the new balance, or
/// `None` if the wallet does not cover a debit. The condition is in the `UPDATE` itself, so no
/// interleaving of writers can take a balance below zero.
pub(super) fn move_balance(conn: &Connection, id: CustomerId, delta: Minor, now: Millis) -> StoreResult<Option<Minor>> {
    conn.prepare_cached(
        "UPDATE wallets SET balance = balance + ?1, updated_at = ?3
         WHERE customer_id = ?2 AND balance + ?1 >= 0 RETURNING balance",
    )
    .and_then(|mut s| s.query_row(params![delta.0, id.0, now], |r| r.get::<_, i64>(0)).optional())
    .map(|b| b.map(Minor))
    .map_err(map_err)
}

#[allow(clippy::too_many_arguments)]
fn insert_ledger(
    conn: &Connection,
    id: CustomerId,
    kind: LedgerKind,
    amount: Minor,
    balance_after: Minor,
    reference: &str,
    order_id: Option<&str>,
    note: Option<&str>,
    now: Millis,
) -> StoreResult<i64> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO ledger_entries (customer_id, kind, amount, balance_after, reference, order_id, note, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .and_then(|mut s| s.execute(params![id.0, kind.as_str(), amount.0, balance_after.0, reference, order_id, note, now]));
    match inserted {
        Ok(_) => Ok(conn.last_insert_rowid()),
        Err(e) if is_unique_violation(&e, "ledger_entries.reference") => {
            Err(StoreError::Conflict(format!("ledger reference {reference:?} was already used")))
        }
        Err(e) => Err(map_err(e)),
    }
}

pub fn post_ledger_entry(conn: &Connection, entry: &NewLedgerEntry, now: Millis) -> StoreResult<Posted> {
    rules::check_operator_entry(entry)?;
    let existing = conn
        .prepare_cached(&format!("SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE reference = ?1"))
        .and_then(|mut s| s.query_row([&entry.reference], rows::ledger_entry).optional())
        .map_err(map_err)?;
    if let Some(existing) = existing {
        return rules::replayed_entry(existing, entry);
    }
    let Some(balance_after) = move_balance(conn, entry.customer_id, entry.amount, now)? else {
        return Err(rules::uncovered_adjustment(wallet(conn, entry.customer_id)?.balance, entry.amount));
    };
    let id = insert_ledger(
        conn,
        entry.customer_id,
        entry.kind,
        entry.amount,
        balance_after,
        &entry.reference,
        None,
        entry.note.as_deref(),
        now,
    )?;
    let entry = conn
        .query_row(&format!("SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE id = ?1"), [id], rows::ledger_entry)
        .map_err(map_err)?;
    Ok(Posted { entry, replayed: false })
}

pub fn ledger(conn: &Connection, id: CustomerId, limit: u32) -> StoreResult<Vec<LedgerEntry>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {LEDGER_COLUMNS} FROM ledger_entries WHERE customer_id = ?1 ORDER BY id DESC LIMIT ?2"
        ))
        .map_err(map_err)?;
    let rows = stmt.query_map(params![id.0, limit], rows::ledger_entry).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// Runs `read` in one read transaction, so that all its statements see the same snapshot (a
/// page and its total, the checks of the books).
fn one_snapshot<T>(conn: &Connection, read: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    conn.execute_batch("BEGIN").map_err(map_err)?;
    let result = read();
    if conn.execute_batch("COMMIT").is_err() {
        // Never expected for a read; the pool drops a connection still in a transaction anyway.
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

pub fn audit_books(conn: &Connection) -> StoreResult<BooksReport> {
    use rules::audit::*;
    one_snapshot(conn, || {
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(map_err);
        fn list<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> StoreResult<Vec<T>> {
            let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(map_err)?;
            rows.collect::<Result<_, _>>().map_err(map_err)
        }
        Ok(BooksReport {
            wallets: count(COUNT_WALLETS)?,
            orders: count(COUNT_ORDERS)?,
            ledger_entries: count(COUNT_LEDGER)?,
            balance_mismatches: list(conn, BALANCE_MISMATCHES)?,
            orders_without_one_charge: list(conn, ORDERS_WITHOUT_ONE_CHARGE)?,
            entries_without_order: list(conn, ENTRIES_WITHOUT_ORDER)?,
            refund_mismatches: list(conn, REFUND_MISMATCHES)?,
            negative_balances: list(conn, NEGATIVE_BALANCES)?,
            order_count_mismatches: list(conn, ORDER_COUNT_MISMATCHES)?,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// API keys

pub fn create_api_key(conn: &Connection, new: &NewApiKey, now: Millis) -> StoreResult<ApiKeyRecord> {
    if customer(conn, new.customer_id)?.is_none() {
        return Err(StoreError::NotFound(format!("customer {}", new.customer_id)));
    }
    let inserted = conn.execute(
        "INSERT INTO api_keys (api_key, customer_id, secret_sealed, status, allowed_ips, allowed_services,
                               rate_limit_per_minute, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?6, ?7, ?7)",
        params![
            new.api_key,
            new.customer_id.0,
            new.secret_sealed,
            join_list(&new.allowed_ips),
            join_list(&new.allowed_services),
            new.rate_limit_per_minute,
            now
        ],
    );
    match inserted {
        Ok(_) => api_key_by_value(conn, &new.api_key)?.ok_or_else(|| StoreError::Internal("key vanished".into())),
        Err(e) if is_unique_violation(&e, "api_keys.api_key") => {
            Err(StoreError::Conflict("API key already exists".into()))
        }
        Err(e) => Err(map_err(e)),
    }
}

fn api_key_by_value(conn: &Connection, api_key: &str) -> StoreResult<Option<ApiKeyRecord>> {
    conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.api_key = ?1"))
        .and_then(|mut s| s.query_row([api_key], rows::api_key).optional())
        .map_err(map_err)
}

/// A key's record, with the authentication epoch of the snapshot it was read in (see
/// `AuthCache`). Everything in it but the balance comes from `api_keys` and `customers`, whose
/// every change moves the epoch (migration 9): a column from any other table here would need a
/// trigger there too.
pub fn auth_record(conn: &Connection, api_key: &str) -> StoreResult<Option<(i64, AuthRecord)>> {
    // Every signed request runs this: the statement text is built once, not per call.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {KEY_COLUMNS}, k.secret_sealed, c.status, w.balance, (SELECT n FROM auth_epoch)
             FROM api_keys k LEFT JOIN customers c ON c.id = k.customer_id
             LEFT JOIN wallets w ON w.customer_id = k.customer_id WHERE k.api_key = ?1"
        )
    });
    conn.prepare_cached(&SQL)
        .and_then(|mut s| {
            s.query_row([api_key], |row| {
                let status: Option<String> = row.get(9)?;
                let record = AuthRecord {
                    key: rows::api_key(row)?,
                    secret_sealed: row.get(8)?,
                    customer_status: status.and_then(|s| s.parse().ok()),
                    wallet_balance: row.get::<_, Option<i64>>(10)?.map(Minor),
                };
                Ok((row.get(11)?, record))
            })
            .optional()
        })
        .map_err(map_err)
}

/// The authentication epoch and the customer's wallet balance (`None` if the wallet is gone), in
/// one snapshot: what a request whose key record is cached still reads.
pub fn auth_epoch_and_balance(conn: &Connection, customer: CustomerId) -> StoreResult<(i64, Option<Minor>)> {
    conn.prepare_cached("SELECT n, (SELECT balance FROM wallets WHERE customer_id = ?1) FROM auth_epoch WHERE id = 1")
        .and_then(|mut s| s.query_row([customer.0], |row| Ok((row.get(0)?, row.get::<_, Option<i64>>(1)?.map(Minor)))))
        .map_err(map_err)
}

pub fn set_api_key_status(
    conn: &Connection,
    api_key: &str,
    status: KeyStatus,
    now: Millis,
) -> StoreResult<ApiKeyRecord> {
    let updated = conn
        .execute(
            "UPDATE api_keys SET status = ?1, updated_at = ?2
             WHERE api_key = ?3 AND (status <> 'revoked' OR ?1 = 'revoked')",
            params![status.as_str(), now, api_key],
        )
        .map_err(map_err)?;
    let key = api_key_by_value(conn, api_key)?.ok_or_else(|| StoreError::NotFound(format!("API key {api_key}")))?;
    match updated {
        0 => Err(rules::revoked_stays_revoked()),
        _ => Ok(key),
    }
}

pub fn list_api_keys(conn: &Connection, customer: Option<CustomerId>) -> StoreResult<Vec<ApiKeyRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE ?1 IS NULL OR k.customer_id = ?1 ORDER BY k.id"
        ))
        .map_err(map_err)?;
    let rows = stmt.query_map([customer.map(|c| c.0)], rows::api_key).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

// ---------------------------------------------------------------------------------------------
// Services

pub fn create_service(conn: &Connection, new: &NewService, now: Millis) -> StoreResult<ServiceRecord> {
    rules::check_quantity_bounds(new.min, new.max)?;
    conn.execute(
        "INSERT INTO services (name, category, kind, price_per_1000, min_quantity, max_quantity, active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
        params![new.name, new.category, new.kind.as_str(), new.price_per_1000.to_string(), new.min as i64, new.max as i64, now],
    )
    .map_err(map_err)?;
    service(conn, conn.last_insert_rowid())?.ok_or_else(|| StoreError::Internal("service vanished".into()))
}

pub(super) fn service(conn: &Connection, id: i64) -> StoreResult<Option<ServiceRecord>> {
    // Read for every order, on the writer thread: the statement text is built once.
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {SERVICE_COLUMNS} FROM {SERVICE_FROM} WHERE s.id = ?1"));
    conn.prepare_cached(&SQL).and_then(|mut s| s.query_row([id], rows::service).optional()).map_err(map_err)
}

pub fn update_service(conn: &Connection, id: i64, patch: &ServicePatch, now: Millis) -> StoreResult<ServiceRecord> {
    let current = service(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("service {id}")))?;
    let min = patch.min.unwrap_or(current.min);
    let max = patch.max.unwrap_or(current.max);
    rules::check_quantity_bounds(min, max)?;
    let provider = match &patch.provider {
        Some(Some((provider_id, provider_service))) => {
            provider(conn, *provider_id)?.ok_or_else(|| StoreError::NotFound(format!("provider {provider_id}")))?;
            Some((*provider_id, provider_service.clone()))
        }
        Some(None) => None,
        None => current.provider_id.zip(current.provider_service.clone()),
    };
    conn.execute(
        "UPDATE services SET name = ?1, category = ?2, kind = ?3, price_per_1000 = ?4, min_quantity = ?5,
                             max_quantity = ?6, active = ?7, updated_at = ?8, provider_id = ?10,
                             provider_service = ?11, cancel_allowed = ?12, refill_allowed = ?13
         WHERE id = ?9",
        params![
            patch.name.as_ref().unwrap_or(&current.name),
            patch.category.as_ref().unwrap_or(&current.category),
            patch.kind.unwrap_or(current.kind).as_str(),
            patch.price_per_1000.unwrap_or(current.price_per_1000).to_string(),
            min as i64,
            max as i64,
            patch.active.unwrap_or(current.active) as i64,
            now,
            id,
            provider.as_ref().map(|p| p.0),
            provider.as_ref().map(|p| p.1.as_str()),
            patch.cancel_allowed.unwrap_or(current.cancel_allowed) as i64,
            patch.refill_allowed.unwrap_or(current.refill_allowed) as i64,
        ],
    )
    .map_err(map_err)?;
    service(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("service {id}")))
}

pub fn services(conn: &Connection, active_only: bool) -> StoreResult<Vec<ServiceRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SERVICE_COLUMNS} FROM {SERVICE_FROM} WHERE s.active = 1 OR ?1 = 0 ORDER BY s.id"
        ))
        .map_err(map_err)?;
    let rows = stmt.query_map([active_only as i64], rows::service).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

// ---------------------------------------------------------------------------------------------
// Orders

pub fn order_by_idempotency(
    conn: &Connection,
    customer: CustomerId,
    key: &str,
) -> StoreResult<Option<(OrderRecord, Vec<u8>)>> {
    // Checked for every order, on the writer thread: the statement text is built once.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {ORDER_COLUMNS}, request_fingerprint FROM orders WHERE customer_id = ?1 AND idempotency_key = ?2"
        )
    });
    conn.prepare_cached(&SQL)
        .and_then(|mut s| {
            s.query_row(params![customer.0, key], |r| {
                Ok((rows::order(r)?, r.get::<_, Vec<u8>>("request_fingerprint")?))
            })
            .optional()
        })
        .map_err(map_err)
}

/// Places an order, or answers why not.
///
/// Nearly every order is new, so it is first placed straight away, without looking for an
/// earlier order with its idempotency key, reference or signature: the unique indexes on those
/// columns refuse the insert if there is one. If that attempt fails in any way (such a refusal,
/// a rule, the balance), it is rolled back whole and [`check_then_place`] answers: the checks in
/// their order, then the same placing. So the answer is always the one `check_then_place` gives
/// alone; an order that succeeds is spared two index lookups on the writer, which does every
/// order of the server in turn.
pub fn create_order(conn: &Connection, currency: &Currency, new: &NewOrder, now: Millis) -> StoreResult<OrderPlaced> {
    let statement = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(map_err);
    statement("SAVEPOINT new_order")?;
    match place(conn, currency, new, now) {
        Ok(placed) => {
            statement("RELEASE new_order")?;
            return Ok(placed);
        }
        // SQLite rolled the whole transaction back (disk full, I/O): there is nothing to retry in.
        Err(error) if conn.is_autocommit() => return Err(error),
        Err(_) => {
            statement("ROLLBACK TO new_order")?;
            statement("RELEASE new_order")?;
        }
    }
    check_then_place(conn, currency, new, now)
}

/// The checks of an order against earlier ones (idempotency key, client reference, signature),
/// in that order, then [`place`].
fn check_then_place(conn: &Connection, currency: &Currency, new: &NewOrder, now: Millis) -> StoreResult<OrderPlaced> {
    let request = &new.request;
    if let Some((order, stored)) = order_by_idempotency(conn, new.customer_id, &new.idempotency_key)? {
        return if stored == request.fingerprint() {
            Ok(OrderPlaced::Replayed(order))
        } else {
            Err(OrderRefusal::IdempotencyKeyReused.into())
        };
    }
    if let Some(reference) = &request.client_order_ref {
        let taken = conn
            .prepare_cached("SELECT 1 FROM orders WHERE customer_id = ?1 AND client_order_ref = ?2")
            .and_then(|mut s| s.exists(params![new.customer_id.0, reference]))
            .map_err(map_err)?;
        if taken {
            return Err(OrderRefusal::ClientOrderRefReused.into());
        }
    }

    if let Some(signature) = &new.signature {
        let used = conn
            .prepare_cached("SELECT 1 FROM orders WHERE customer_id = ?1 AND request_signature = ?2")
            .and_then(|mut s| s.exists(params![new.customer_id.0, signature]))
            .map_err(map_err)?;
        if used {
            return Err(OrderRefusal::SignatureReused.into());
        }
    }
    place(conn, currency, new, now)
}

/// Charges the wallet and writes the order and its ledger entry, with no check against earlier
/// orders (see [`create_order`]).
fn place(conn: &Connection, currency: &Currency, new: &NewOrder, now: Millis) -> StoreResult<OrderPlaced> {
    let request = &new.request;
    let fingerprint = request.fingerprint();
    let service = service(conn, request.service_id)?.ok_or(OrderRefusal::ServiceNotFound)?;
    let charge = service.terms().quote(request, &new.allowed_services, currency)?;

    let Some(balance_after) = move_balance(conn, new.customer_id, Minor(-charge.0), now)? else {
        return Err(match wallet(conn, new.customer_id) {
            Ok(w) => OrderRefusal::InsufficientBalance { balance: w.balance, required: charge }.into(),
            Err(StoreError::NotFound(_)) => OrderRefusal::CustomerNotFound.into(),
            Err(e) => e,
        });
    };

    let comments = request.custom_comments.as_ref().map(|c| c.join("\n"));
    let upstream = service.initial_upstream();
    let mut inserted = None;
    for _ in 0..ID_ATTEMPTS {
        let id = OrderId::generate();
        let result = conn
            .prepare_cached(
                "INSERT INTO orders (id, customer_id, service_id, service_name, quantity, link, custom_comments,
                                     client_order_ref, idempotency_key, request_fingerprint, price_per_1000, charge,
                                     status, created_at, updated_at, provider_id, provider_service, upstream,
                                     next_attempt_at, request_signature)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15, ?16, ?17, ?14, ?18)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    id.as_str(),
                    new.customer_id.0,
                    service.id,
                    service.name,
                    request.quantity as i64,
                    request.link,
                    comments,
                    request.client_order_ref,
                    new.idempotency_key,
                    fingerprint.as_slice(),
                    service.price_per_1000.to_string(),
                    charge.0,
                    INITIAL_ORDER_STATUS.as_str(),
                    now,
                    service.provider_id,
                    service.provider_service,
                    upstream.as_str(),
                    new.signature,
                ])
            });
        match result {
            Ok(_) => {
                inserted = Some((id, conn.last_insert_rowid()));
                break;
            }
            Err(e) if is_unique_violation(&e, "orders.id") => continue,
            // Only possible if another process wrote the same key or reference in between;
            // the unique indexes are the backstop of the checks above.
            Err(e) if is_unique_violation(&e, "idempotency_key") => return Err(OrderRefusal::InFlight.into()),
            Err(e) if is_unique_violation(&e, "request_signature") => return Err(OrderRefusal::SignatureReused.into()),
            Err(e) if is_unique_violation(&e, "client_order_ref") => {
                return Err(OrderRefusal::ClientOrderRefReused.into())
            }
            Err(e) => return Err(map_err(e)),
        }
    }
    let (id, seq) = inserted.ok_or_else(|| StoreError::Internal("could not draw a unique order id".into()))?;

    insert_ledger(
        conn,
        new.customer_id,
        LedgerKind::OrderCharge,
        Minor(-charge.0),
        balance_after,
        &rules::charge_reference(id.as_str()),
        Some(id.as_str()),
        None,
        now,
    )?;

    Ok(OrderPlaced::Created(OrderRecord {
        seq,
        id,
        customer_id: new.customer_id,
        service_id: service.id,
        service_name: service.name,
        quantity: request.quantity,
        link: request.link.clone(),
        custom_comments: comments,
        client_order_ref: request.client_order_ref.clone(),
        idempotency_key: new.idempotency_key.clone(),
        price_per_1000: service.price_per_1000,
        charge,
        refunded: Minor::ZERO,
        status: INITIAL_ORDER_STATUS,
        smm_status: None,
        remains: None,
        start_count: None,
        created_at: now,
        updated_at: now,
        provider_id: service.provider_id,
        provider_service: service.provider_service,
        provider_order_id: None,
        upstream,
        attempts: 0,
        next_attempt_at: Some(now),
        last_error: None,
    }))
}

pub fn order(conn: &Connection, customer: Option<CustomerId>, id: &OrderId) -> StoreResult<Option<OrderRecord>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1 AND (?2 IS NULL OR customer_id = ?2)")
    });
    conn.prepare_cached(&SQL)
        .and_then(|mut s| s.query_row(params![id.as_str(), customer.map(|c| c.0)], rows::order).optional())
        .map_err(map_err)
}

pub fn list_orders(conn: &Connection, filter: &OrderFilter) -> StoreResult<OrderPage> {
    let customer = filter.customer_id.map(|c| c.0);
    let status = filter.status.map(|s| s.as_str());
    if let Some(upstream) = filter.upstream {
        return list_by_upstream(conn, filter, upstream);
    }
    // Separate statements per filter shape, so each uses its index instead of an OR scan. The
    // total comes from the trigger-kept `order_counts`, not from counting orders: a list costs
    // the same however many orders the customer has.
    let (list_sql, count_sql) = match (customer.is_some(), status.is_some()) {
        (true, true) => (
            "WHERE customer_id = ?1 AND status = ?2 ORDER BY seq DESC",
            "SELECT COALESCE(SUM(count), 0) FROM order_counts WHERE customer_id = ?1 AND status = ?2",
        ),
        (true, false) => (
            "WHERE customer_id = ?1 AND ?2 IS NULL ORDER BY seq DESC",
            "SELECT COALESCE(SUM(count), 0) FROM order_counts WHERE customer_id = ?1 AND ?2 IS NULL",
        ),
        (false, true) => (
            "WHERE ?1 IS NULL AND status = ?2 ORDER BY seq DESC",
            "SELECT COALESCE(SUM(count), 0) FROM order_counts WHERE ?1 IS NULL AND status = ?2",
        ),
        (false, false) => (
            "WHERE ?1 IS NULL AND ?2 IS NULL ORDER BY seq DESC",
            "SELECT COALESCE(SUM(count), 0) FROM order_counts WHERE ?1 IS NULL AND ?2 IS NULL",
        ),
    };
    one_snapshot(conn, || {
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {ORDER_COLUMNS} FROM orders {list_sql} LIMIT ?3 OFFSET ?4"))
            .map_err(map_err)?;
        let orders = stmt
            .query_map(params![customer, status, filter.limit, filter.offset() as i64], rows::order)
            .map_err(map_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)?;
        let total = conn
            .prepare_cached(count_sql)
            .and_then(|mut s| s.query_row(params![customer, status], |r| r.get::<_, i64>(0)))
            .map_err(map_err)?;
        Ok(OrderPage { orders, total: total as u64 })
    })
}

/// An operator's status change.
pub fn change_order(
    conn: &Connection,
    currency: &Currency,
    id: &OrderId,
    change: &StatusChange,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let current = order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    rules::operator_change_allowed(&current, change)?;
    apply_change(conn, currency, &current, change, None, now)
}

/// Applies a status change to `current`: refund (once), order row, upstream state, and the
/// webhook events of the change — all in the caller's transaction. A final status closes the
/// upstream side unless `upstream` says otherwise. An order still being sent keeps its claim, so
/// that the sending worker's answer still decides it.
pub(super) fn apply_change(
    conn: &Connection,
    currency: &Currency,
    current: &OrderRecord,
    change: &StatusChange,
    upstream: Option<(Upstream, Option<&str>)>,
    now: Millis,
) -> StoreResult<OrderRecord> {
    let plan = rules::plan_change(current, change)?;
    let id = &current.id;
    if plan.refund.0 > 0 {
        let balance_after = move_balance(conn, current.customer_id, plan.refund, now)?
            .ok_or_else(|| StoreError::NotFound(format!("wallet of customer {}", current.customer_id)))?;
        // One refund per order, enforced by the unique reference as well as by the state machine.
        insert_ledger(
            conn,
            current.customer_id,
            LedgerKind::OrderRefund,
            plan.refund,
            balance_after,
            &rules::refund_reference(id.as_str()),
            Some(id.as_str()),
            Some(plan.status.as_str()),
            now,
        )?;
    }
    let (upstream, last_error) = rules::upstream_after(current, &plan, upstream);
    conn.prepare_cached(
        "UPDATE orders SET status = ?1, refunded = ?2, smm_status = COALESCE(?3, smm_status), remains = ?4,
                           start_count = COALESCE(?5, start_count), updated_at = ?6, upstream = ?8,
                           last_error = ?9,
                           claimed_until = CASE WHEN ?8 = 'submitting' THEN claimed_until END
         WHERE id = ?7",
    )
    .and_then(|mut s| {
        s.execute(params![
            plan.status.as_str(),
            plan.refunded_total.0,
            change.smm_status,
            plan.remains.map(|r| r as i64),
            change.start_count.map(|r| r as i64),
            now,
            id.as_str(),
            upstream.as_str(),
            last_error,
        ])
    })
    .map_err(map_err)?;
    let updated = order(conn, None, id)?.ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    if updated.status != current.status {
        super::webhooks::enqueue_status_event(conn, currency, &updated, current.status, now)?;
    }
    Ok(updated)
}

fn list_by_upstream(conn: &Connection, filter: &OrderFilter, upstream: Upstream) -> StoreResult<OrderPage> {
    let customer = filter.customer_id.map(|c| c.0);
    let status = filter.status.map(|s| s.as_str());
    // One statement per filter shape (statements keep their first plan, see `plan_once`). With a
    // customer, `+upstream` keeps SQLite off the upstream index, so the page comes from that
    // customer's orders instead of a walk back through every order in that upstream state.
    let condition = match (customer.is_some(), status.is_some()) {
        (true, true) => "customer_id = ?1 AND status = ?2 AND +upstream = ?3",
        (true, false) => "customer_id = ?1 AND ?2 IS NULL AND +upstream = ?3",
        (false, true) => "?1 IS NULL AND status = ?2 AND upstream = ?3",
        (false, false) => "?1 IS NULL AND ?2 IS NULL AND upstream = ?3",
    };
    one_snapshot(conn, || {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE {condition} ORDER BY seq DESC LIMIT ?4 OFFSET ?5"
            ))
            .map_err(map_err)?;
        let orders = stmt
            .query_map(params![customer, status, upstream.as_str(), filter.limit, filter.offset() as i64], rows::order)
            .map_err(map_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)?;
        let total: i64 = conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM orders WHERE {condition}"))
            .and_then(|mut s| s.query_row(params![customer, status, upstream.as_str()], |r| r.get(0)))
            .map_err(map_err)?;
        Ok(OrderPage { orders, total: total as u64 })
    })
}

pub(super) fn provider(conn: &Connection, id: i64) -> StoreResult<Option<ProviderRecord>> {
    conn.prepare_cached(&format!("SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], rows::provider).optional())
        .map_err(map_err)
}

// ---------------------------------------------------------------------------------------------
// Profiles

pub fn update_profile(
    conn: &Connection,
    id: CustomerId,
    changes: &ProfileChanges,
    now: Millis,
) -> StoreResult<Customer> {
    if changes.is_empty() {
        return Err(StoreError::Invalid("a profile edit must change at least one field".into()));
    }
    // The column names come from `ProfileField`, a closed set, never from the request; the values
    // are bound parameters.
    let mut assignments = Vec::new();
    let mut values: Vec<Option<&str>> = Vec::new();
    for (field, value) in changes.iter() {
        values.push(value);
        assignments.push(format!("{} = ?{}", field.as_str(), values.len()));
    }
    let sql = format!(
        "UPDATE customers SET {}, updated_at = ?{} WHERE id = ?{}",
        assignments.join(", "),
        values.len() + 1,
        values.len() + 2
    );
    let mut params: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
    params.push(&now);
    params.push(&id.0);
    let updated = conn.prepare_cached(&sql).and_then(|mut s| s.execute(params.as_slice()));
    match updated {
        Ok(0) => Err(StoreError::NotFound(format!("customer {id}"))),
        Ok(_) => customer(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("customer {id}"))),
        Err(e) if is_unique_violation(&e, "customers_email") => Err(StoreError::Taken { field: ProfileField::Email }),
        Err(e) if is_unique_violation(&e, "customers_username") => {
            Err(StoreError::Taken { field: ProfileField::Username })
        }
        Err(e) => Err(map_err(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Identity verification

fn insert_audit(
    conn: &Connection,
    verification: &VerificationRecord,
    action: AuditAction,
    to_status: VerificationStatus,
    actor: &str,
    reason: Option<&str>,
    now: Millis,
) -> StoreResult<()> {
    let from_status = (action != AuditAction::Submit).then(|| verification.status.as_str());
    conn.prepare_cached(
        "INSERT INTO verification_audit (verification_id, customer_id, action, from_status, to_status, actor, reason, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            verification.id,
            verification.customer_id.0,
            action.as_str(),
            from_status,
            to_status.as_str(),
            actor,
            reason,
            now
        ])
    })
    .map_err(map_err)?;
    Ok(())
}

pub fn submit_verification(conn: &Connection, new: &NewVerification, now: Millis) -> StoreResult<VerificationRecord> {
    if customer(conn, new.customer_id)?.is_none() {
        return Err(StoreError::NotFound(format!("customer {}", new.customer_id)));
    }
    may_submit(latest_verification(conn, new.customer_id)?.map(|v| v.status))?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO verifications (reference, customer_id, status, verify_type, first_name, gender,
                                        id_number_sealed, submitted_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )
        .and_then(|mut s| {
            s.execute(params![
                new.reference,
                new.customer_id.0,
                VerificationStatus::InProcess.as_str(),
                new.verify_type.as_str(),
                new.first_name,
                new.gender.code(),
                new.id_number_sealed,
                now
            ])
        });
    match inserted {
        Ok(_) => {}
        // Another process wrote a submission for this customer in between.
        // `verifications_one_standing`: one submission in process per customer.
        Err(e) if is_unique_violation(&e, "verifications.customer_id") => {
            return Err(VerificationRefusal::AlreadyInProcess.into())
        }
        Err(e) => return Err(map_err(e)),
    }
    let id = conn.last_insert_rowid();
    for document in &new.documents {
        conn.prepare_cached(
            "INSERT INTO verification_documents (verification_id, slot, content_type, size, sealed, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                id,
                document.slot.number(),
                document.kind.as_str(),
                document.size as i64,
                document.sealed,
                now
            ])
        })
        .map_err(map_err)?;
    }
    let record = verification(conn, id)?.ok_or_else(|| StoreError::Internal("verification vanished".into()))?;
    insert_audit(conn, &record, AuditAction::Submit, record.status, &new.actor, None, now)?;
    Ok(record)
}

pub fn latest_verification(conn: &Connection, customer: CustomerId) -> StoreResult<Option<VerificationRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {VERIFICATION_COLUMNS} FROM verifications v WHERE v.customer_id = ?1 ORDER BY v.id DESC LIMIT 1"
    ))
    .and_then(|mut s| s.query_row([customer.0], rows::verification).optional())
    .map_err(map_err)
}

pub fn verification(conn: &Connection, id: i64) -> StoreResult<Option<VerificationRecord>> {
    conn.prepare_cached(&format!("SELECT {VERIFICATION_COLUMNS} FROM verifications v WHERE v.id = ?1"))
        .and_then(|mut s| s.query_row([id], rows::verification).optional())
        .map_err(map_err)
}

pub fn list_verifications(conn: &Connection, filter: &VerificationFilter) -> StoreResult<Vec<VerificationRecord>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {VERIFICATION_COLUMNS} FROM verifications v
             WHERE (?1 IS NULL OR v.status = ?1) AND (?2 IS NULL OR v.customer_id = ?2)
             ORDER BY v.id LIMIT ?3"
        ))
        .map_err(map_err)?;
    let rows = stmt
        .query_map(
            params![filter.status.map(|s| s.as_str()), filter.customer_id.map(|c| c.0), filter.limit],
            rows::verification,
        )
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn verification_document(conn: &Connection, id: i64, slot: DocumentSlot) -> StoreResult<Option<SealedDocument>> {
    conn.prepare_cached(
        "SELECT v.reference, d.content_type, d.size, d.sealed
         FROM verification_documents d JOIN verifications v ON v.id = d.verification_id
         WHERE d.verification_id = ?1 AND d.slot = ?2",
    )
    .and_then(|mut s| {
        s.query_row(params![id, slot.number()], |row| {
            let kind: String = row.get(1)?;
            let size: i64 = row.get(2)?;
            Ok(SealedDocument {
                verification_id: id,
                reference: row.get(0)?,
                info: DocumentInfo {
                    slot,
                    kind: kind.parse().map_err(|e: String| {
                        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
                    })?,
                    size: u64::try_from(size).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Integer, e.into())
                    })?,
                },
                sealed: row.get(3)?,
            })
        })
        .optional()
    })
    .map_err(map_err)
}

pub fn review_verification(conn: &Connection, review: &Review, now: Millis) -> StoreResult<VerificationRecord> {
    let id = review.verification_id;
    let current = verification(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("verification {id}")))?;
    let next = current.status.review(review.action)?;
    let actor = review.actor.trim();
    if actor.is_empty() {
        return Err(StoreError::Invalid("a review needs an actor: who decided".into()));
    }
    // Conditional on the status read above, so two operators deciding at once cannot both win.
    let changed = conn
        .prepare_cached(
            "UPDATE verifications SET status = ?1, reviewed_at = ?2, reviewed_by = ?3, review_reason = ?4, updated_at = ?2
             WHERE id = ?5 AND status = ?6",
        )
        .and_then(|mut s| {
            s.execute(params![next.as_str(), now, actor, review.reason, id, VerificationStatus::InProcess.as_str()])
        })
        .map_err(map_err)?;
    if changed == 0 {
        let status = verification(conn, id)?.map(|v| v.status).unwrap_or(current.status);
        return Err(VerificationRefusal::NotInProcess { status }.into());
    }
    if review.action == ReviewAction::Approve {
        conn.prepare_cached("UPDATE customers SET verified = 1, updated_at = ?1 WHERE id = ?2")
            .and_then(|mut s| s.execute(params![now, current.customer_id.0]))
            .map_err(map_err)?;
    }
    insert_audit(conn, &current, review.action.into(), next, actor, review.reason.as_deref(), now)?;
    verification(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("verification {id}")))
}

pub fn verification_audit(conn: &Connection, id: i64) -> StoreResult<Vec<AuditEntry>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {AUDIT_COLUMNS} FROM verification_audit WHERE verification_id = ?1 ORDER BY id"
        ))
        .map_err(map_err)?;
    let rows = stmt.query_map([id], rows::audit_entry).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::is_unique_violation;

    /// Each insert's violation against the names the store matches on.
    #[test]
    fn unique_violations_are_told_apart_by_whole_names() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE orders (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, customer_id INT, idempotency_key TEXT);
             CREATE UNIQUE INDEX orders_idempotency ON orders (customer_id, idempotency_key);
             CREATE TABLE customers (email TEXT);
             CREATE UNIQUE INDEX customers_email ON customers (lower(email));
             CREATE TABLE verifications (customer_id INT, status TEXT);
             CREATE UNIQUE INDEX verifications_one_standing ON verifications (customer_id) WHERE status <> 'rejected';
             INSERT INTO orders VALUES (1, 'A', 1, 'k');
             INSERT INTO customers VALUES ('a@x');
             INSERT INTO verifications VALUES (1, 'pending');",
        )
        .unwrap();
        let violation = |sql: &str| conn.execute_batch(sql).expect_err(sql);

        let same_key = violation("INSERT INTO orders VALUES (2, 'B', 1, 'k')");
        assert!(is_unique_violation(&same_key, "idempotency_key"));
        assert!(!is_unique_violation(&same_key, "orders.id"), "orders.id is only a prefix of orders.idempotency_key");
        let same_id = violation("INSERT INTO orders VALUES (2, 'A', 1, 'other')");
        assert!(is_unique_violation(&same_id, "orders.id"));
        assert!(!is_unique_violation(&same_id, "idempotency_key"));
        let same_email = violation("INSERT INTO customers VALUES ('A@X')");
        assert!(is_unique_violation(&same_email, "customers_email"));
        assert!(!is_unique_violation(&same_email, "email"));
        let second_standing = violation("INSERT INTO verifications VALUES (1, 'pending')");
        assert!(is_unique_violation(&second_standing, "verifications.customer_id"));
        let not_null = violation("CREATE TABLE n (x NOT NULL); INSERT INTO n VALUES (NULL)");
        assert!(!is_unique_violation(&not_null, "n.x"));
    }
}
