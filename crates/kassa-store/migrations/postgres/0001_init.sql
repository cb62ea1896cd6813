-- kassa schema for PostgreSQL. Times are Unix milliseconds (UTC) like the SQLite store, so both
-- stores read the same; money is integer minor units of the store currency (see `settings`).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE customers (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    moderator   TEXT,
    chat_status TEXT,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX customers_email ON customers (lower(email));
CREATE UNIQUE INDEX customers_username ON customers (lower(username)) WHERE username IS NOT NULL;

-- The balance is a cache of the ledger kept in the same transaction as every entry; the CHECK is
-- the last line of defence behind the conditional debit.
CREATE TABLE wallets (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id),
    balance     BIGINT NOT NULL CHECK (balance >= 0),
    updated_at  BIGINT NOT NULL
);

CREATE TABLE ledger_entries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id   BIGINT NOT NULL REFERENCES customers (id),
    kind          TEXT NOT NULL CHECK (kind IN ('topup', 'adjustment', 'order_charge', 'order_refund')),
    amount        BIGINT NOT NULL CHECK (amount <> 0),
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    reference     TEXT NOT NULL UNIQUE,
    order_id      TEXT,
    note          TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX ledger_by_customer ON ledger_entries (customer_id, id);
CREATE INDEX ledger_by_order ON ledger_entries (order_id) WHERE order_id IS NOT NULL;

CREATE TABLE api_keys (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    api_key               TEXT NOT NULL UNIQUE,
    customer_id           BIGINT NOT NULL REFERENCES customers (id),
    secret_sealed         BYTEA NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
    allowed_ips           TEXT NOT NULL DEFAULT '',   -- comma-separated CIDRs; empty = any
    allowed_services      TEXT NOT NULL DEFAULT '',   -- comma-separated service ids; empty = all
    rate_limit_per_minute INTEGER NOT NULL CHECK (rate_limit_per_minute > 0),
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX api_keys_by_customer ON api_keys (customer_id);

CREATE TABLE services (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT NOT NULL,
    category       TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('default', 'custom_comments', 'package')),
    price_per_1000 NUMERIC(20, 8) NOT NULL CHECK (price_per_1000 > 0),
    min_quantity   BIGINT NOT NULL CHECK (min_quantity >= 1),
    max_quantity   BIGINT NOT NULL CHECK (max_quantity >= min_quantity),
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- seq is woo_order_number: sequential per store from a sequence (gaps possible after a rollback,
-- never reused). The idempotency record is the (customer_id, idempotency_key) pair of the order
-- row itself, so it commits with the order by construction and is kept as long as the order.
CREATE TABLE orders (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    customer_id         BIGINT NOT NULL REFERENCES customers (id),
    service_id          BIGINT NOT NULL REFERENCES services (id),
    service_name        TEXT NOT NULL,
    quantity            BIGINT NOT NULL CHECK (quantity > 0),
    link                TEXT NOT NULL,
    custom_comments     TEXT,
    client_order_ref    TEXT,
    idempotency_key     TEXT NOT NULL,
    request_fingerprint BYTEA NOT NULL,
    price_per_1000      NUMERIC(20, 8) NOT NULL,
    charge              BIGINT NOT NULL CHECK (charge >= 0),
    refunded            BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= charge),
    status              TEXT NOT NULL,
    smm_status          TEXT,
    remains             BIGINT,
    start_count         BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX orders_idempotency ON orders (customer_id, idempotency_key);
CREATE UNIQUE INDEX orders_client_ref ON orders (customer_id, client_order_ref) WHERE client_order_ref IS NOT NULL;
CREATE INDEX orders_by_customer ON orders (customer_id, seq);
CREATE INDEX orders_by_customer_status ON orders (customer_id, status, seq);
CREATE INDEX orders_by_status ON orders (status, seq);

-- Places a batch of orders in one round trip and one commit (group commit across requests).
-- Pricing and validation happen in Rust (kassa-core) before the call; this function only does
-- what must be atomic with the debit: the idempotency and client_order_ref checks, the check that
-- the service is still the version that was quoted, the conditional debit, the order row and its
-- ledger entry. Each item runs in its own subtransaction (BEGIN ... EXCEPTION), so one item's
-- failure rolls back only that item.
--
-- Outcomes per item (ordinality = position in p_items):
--   created       seq, balance: the order was written
--   replay        an order with this key and the same fingerprint exists
--   key_conflict  this key was used with another request
--   ref_conflict  this client_order_ref was used
--   stale_service the service changed since it was quoted (re-quote and retry)
--   insufficient  balance: the wallet does not cover the charge
--   no_wallet     the customer has no wallet
--   race          a concurrent transaction committed the same key, reference or id first (retry)
CREATE FUNCTION kassa_place_orders(p_items jsonb, p_now bigint)
RETURNS TABLE (item integer, outcome text, seq bigint, balance bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    it jsonb;
    v_fp bytea;
    v_updated bigint;
    v_active boolean;
    v_balance bigint;
    v_seq bigint;
BEGIN
    FOR i IN 0 .. jsonb_array_length(p_items) - 1 LOOP
        it := p_items -> i;
        item := i;
        seq := NULL;
        balance := NULL;
        BEGIN
            SELECT o.request_fingerprint INTO v_fp FROM orders o
            WHERE o.customer_id = (it ->> 'customer_id')::bigint AND o.idempotency_key = it ->> 'key';
            IF FOUND THEN
                outcome := CASE WHEN v_fp = decode(it ->> 'fingerprint', 'hex') THEN 'replay' ELSE 'key_conflict' END;
            ELSIF it ->> 'client_order_ref' IS NOT NULL AND EXISTS (
                SELECT 1 FROM orders o WHERE o.customer_id = (it ->> 'customer_id')::bigint
                                         AND o.client_order_ref = it ->> 'client_order_ref') THEN
                outcome := 'ref_conflict';
            ELSE
                SELECT s.updated_at, s.active INTO v_updated, v_active FROM services s WHERE s.id = (it ->> 'service_id')::bigint;
                IF NOT FOUND OR NOT v_active OR v_updated <> (it ->> 'service_version')::bigint THEN
                    outcome := 'stale_service';
                ELSE
                    UPDATE wallets w SET balance = w.balance - (it ->> 'charge')::bigint, updated_at = p_now
                    WHERE w.customer_id = (it ->> 'customer_id')::bigint AND w.balance >= (it ->> 'charge')::bigint
                    RETURNING w.balance INTO v_balance;
                    IF NOT FOUND THEN
                        SELECT w.balance INTO v_balance FROM wallets w WHERE w.customer_id = (it ->> 'customer_id')::bigint;
                        outcome := CASE WHEN FOUND THEN 'insufficient' ELSE 'no_wallet' END;
                        balance := v_balance;
                    ELSE
                        INSERT INTO orders (id, customer_id, service_id, service_name, quantity, link, custom_comments,
                                            client_order_ref, idempotency_key, request_fingerprint, price_per_1000,
                                            charge, status, created_at, updated_at)
                        VALUES (it ->> 'order_id', (it ->> 'customer_id')::bigint, (it ->> 'service_id')::bigint,
                                it ->> 'service_name', (it ->> 'quantity')::bigint, it ->> 'link', it ->> 'custom_comments',
                                it ->> 'client_order_ref', it ->> 'key', decode(it ->> 'fingerprint', 'hex'),
                                (it ->> 'price_per_1000')::numeric, (it ->> 'charge')::bigint, it ->> 'status', p_now, p_now)
                        RETURNING orders.seq INTO v_seq;
                        INSERT INTO ledger_entries (customer_id, kind, amount, balance_after, reference, order_id, created_at)
                        VALUES ((it ->> 'customer_id')::bigint, 'order_charge', -(it ->> 'charge')::bigint, v_balance,
                                'order:' || (it ->> 'order_id'), it ->> 'order_id', p_now);
                        outcome := 'created';
                        seq := v_seq;
                        balance := v_balance;
                    END IF;
                END IF;
            END IF;
        EXCEPTION WHEN unique_violation THEN
            outcome := 'race';
        END;
        RETURN NEXT;
    END LOOP;
END;
$$;
