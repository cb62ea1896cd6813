-- kassa schema for SQLite. Times are Unix milliseconds (UTC); money is integer minor units of
-- the store currency (see `settings`); prices are decimal text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL UNIQUE,
    email       TEXT NOT NULL,
    first_name  TEXT,
    last_name   TEXT,
    username    TEXT,
    phone       TEXT,
    language    TEXT,
    country     TEXT,
    city        TEXT,
    address     TEXT,
    bio         TEXT,
    verified    INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    moderator   TEXT,
    chat_status TEXT,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX customers_email ON customers (lower(email));
CREATE UNIQUE INDEX customers_username ON customers (lower(username)) WHERE username IS NOT NULL;

-- The balance is a cache of the ledger kept in the same transaction as every entry; the CHECK is
-- the last line of defence behind the conditional debit.
CREATE TABLE wallets (
    customer_id INTEGER PRIMARY KEY REFERENCES customers (id),
    balance     INTEGER NOT NULL CHECK (balance >= 0),
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE ledger_entries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id   INTEGER NOT NULL REFERENCES customers (id),
    kind          TEXT NOT NULL CHECK (kind IN ('topup', 'adjustment', 'order_charge', 'order_refund')),
    amount        INTEGER NOT NULL CHECK (amount <> 0),
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    reference     TEXT NOT NULL UNIQUE,
    order_id      TEXT,
    note          TEXT,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX ledger_by_customer ON ledger_entries (customer_id, id);
CREATE INDEX ledger_by_order ON ledger_entries (order_id) WHERE order_id IS NOT NULL;

CREATE TABLE api_keys (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key               TEXT NOT NULL UNIQUE,
    customer_id           INTEGER NOT NULL REFERENCES customers (id),
    secret_sealed         BLOB NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
    allowed_ips           TEXT NOT NULL DEFAULT '',   -- comma-separated CIDRs; empty = any
    allowed_services      TEXT NOT NULL DEFAULT '',   -- comma-separated service ids; empty = all
    rate_limit_per_minute INTEGER NOT NULL CHECK (rate_limit_per_minute > 0),
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;
CREATE INDEX api_keys_by_customer ON api_keys (customer_id);

CREATE TABLE services (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL,
    category       TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('default', 'custom_comments', 'package')),
    price_per_1000 TEXT NOT NULL,
    min_quantity   INTEGER NOT NULL CHECK (min_quantity >= 1),
    max_quantity   INTEGER NOT NULL CHECK (max_quantity >= min_quantity),
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

-- seq is woo_order_number: sequential per store, never reused (AUTOINCREMENT).
-- The idempotency record is the (customer_id, idempotency_key) pair of the order row itself,
-- so it commits with the order by construction and is kept as long as the order.
CREATE TABLE orders (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    customer_id         INTEGER NOT NULL REFERENCES customers (id),
    service_id          INTEGER NOT NULL REFERENCES services (id),
    service_name        TEXT NOT NULL,
    quantity            INTEGER NOT NULL CHECK (quantity > 0),
    link                TEXT NOT NULL,
    custom_comments     TEXT,
    client_order_ref    TEXT,
    idempotency_key     TEXT NOT NULL,
    request_fingerprint BLOB NOT NULL,
    price_per_1000      TEXT NOT NULL,
    charge              INTEGER NOT NULL CHECK (charge >= 0),
    refunded            INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= charge),
    status              TEXT NOT NULL,
    smm_status          TEXT,
    remains             INTEGER,
    start_count         INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX orders_idempotency ON orders (customer_id, idempotency_key);
CREATE UNIQUE INDEX orders_client_ref ON orders (customer_id, client_order_ref) WHERE client_order_ref IS NOT NULL;
CREATE INDEX orders_by_customer ON orders (customer_id, seq);
CREATE INDEX orders_by_customer_status ON orders (customer_id, status, seq);
CREATE INDEX orders_by_status ON orders (status, seq);
