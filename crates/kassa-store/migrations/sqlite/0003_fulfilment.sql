-- Fulfilment through upstream providers, refills and webhooks.

CREATE TABLE providers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('manual', 'smm-v2')),
    url        TEXT,
    key_sealed BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (kind = 'manual' OR (url IS NOT NULL AND key_sealed IS NOT NULL))
) STRICT;

ALTER TABLE services ADD COLUMN provider_id INTEGER REFERENCES providers (id);
ALTER TABLE services ADD COLUMN provider_service TEXT;
ALTER TABLE services ADD COLUMN cancel_allowed INTEGER NOT NULL DEFAULT 0 CHECK (cancel_allowed IN (0, 1));
ALTER TABLE services ADD COLUMN refill_allowed INTEGER NOT NULL DEFAULT 0 CHECK (refill_allowed IN (0, 1));

-- The upstream side of an order, snapshotted from its service when it is placed:
--   manual        no provider; an operator moves it
--   queued        waiting to be sent to the provider (next_attempt_at)
--   submitting    claimed by a worker that is sending it right now (claimed_until); a lease that
--                 runs out in this state means the outcome is unknown: needs_review, never a resend
--   submitted     the provider has it (provider_order_id); polled for status (next_attempt_at)
--   needs_review  the outcome of a submission is unknown; an operator reconciles
--   closed        nothing more to do upstream
ALTER TABLE orders ADD COLUMN provider_id INTEGER REFERENCES providers (id);
ALTER TABLE orders ADD COLUMN provider_service TEXT;
ALTER TABLE orders ADD COLUMN provider_order_id TEXT;
ALTER TABLE orders ADD COLUMN upstream TEXT NOT NULL DEFAULT 'manual'
    CHECK (upstream IN ('manual', 'queued', 'submitting', 'submitted', 'needs_review', 'closed'));
ALTER TABLE orders ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE orders ADD COLUMN claimed_until INTEGER;
ALTER TABLE orders ADD COLUMN last_error TEXT;
CREATE INDEX orders_upstream_due ON orders (upstream, next_attempt_at)
    WHERE upstream IN ('queued', 'submitting', 'submitted');
CREATE INDEX orders_upstream ON orders (upstream, seq);

CREATE TABLE refills (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id           TEXT NOT NULL REFERENCES orders (id),
    provider_refill_id TEXT,
    status             TEXT NOT NULL,
    created_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX refills_by_order ON refills (order_id);

CREATE TABLE webhook_endpoints (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id   INTEGER NOT NULL REFERENCES customers (id),
    url           TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_endpoints_by_customer ON webhook_endpoints (customer_id);

-- The outbox: one row per event per endpoint, written in the transaction of the change it
-- reports, so no event is lost and none is sent for a change that did not commit.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id),
    message_id      TEXT NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    claimed_until   INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
