-- Placing orders with less work per order (same outcomes as 0004's version).
--
-- * Each item is read from the JSON once, into a typed record, instead of about thirty `->>`
--   lookups and casts per order.
-- * The per-item subtransaction (`BEGIN ... EXCEPTION`) is optional. It only catches a
--   unique_violation, which needs a race with another node (two nodes placing the same key,
--   reference or signature at once). kassa calls with p_isolated = false first; if that rare race
--   happens the whole call fails and changes nothing, and kassa repeats it with p_isolated = true,
--   where the racing item alone answers 'race'. Without the subtransaction an order needs no
--   subtransaction id and no savepoint bookkeeping.

CREATE TYPE kassa_order_item AS (
    customer_id      bigint,
    key              text,
    fingerprint      text,
    client_order_ref text,
    service_id       bigint,
    service_version  bigint,
    service_name     text,
    price_per_1000   numeric,
    quantity         bigint,
    link             text,
    custom_comments  text,
    charge           bigint,
    order_id         text,
    status           text,
    provider_id      bigint,
    provider_service text,
    upstream         text,
    signature        text
);

-- One item: the checks that must be atomic with the debit, then the debit, order and ledger entry.
CREATE FUNCTION kassa_place_order(it kassa_order_item, p_now bigint,
                                  OUT outcome text, OUT seq bigint, OUT balance bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_fp bytea;
    v_updated bigint;
    v_active boolean;
BEGIN
    SELECT o.request_fingerprint INTO v_fp FROM orders o
    WHERE o.customer_id = it.customer_id AND o.idempotency_key = it.key;
    IF FOUND THEN
        outcome := CASE WHEN v_fp = decode(it.fingerprint, 'hex') THEN 'replay' ELSE 'key_conflict' END;
        RETURN;
    END IF;
    IF it.client_order_ref IS NOT NULL AND EXISTS (
        SELECT 1 FROM orders o WHERE o.customer_id = it.customer_id AND o.client_order_ref = it.client_order_ref) THEN
        outcome := 'ref_conflict';
        RETURN;
    END IF;
    IF it.signature IS NOT NULL AND EXISTS (
        SELECT 1 FROM orders o WHERE o.customer_id = it.customer_id
                                 AND o.request_signature = decode(it.signature, 'hex')) THEN
        outcome := 'signature_conflict';
        RETURN;
    END IF;
    SELECT s.updated_at, s.active INTO v_updated, v_active FROM services s WHERE s.id = it.service_id;
    IF NOT FOUND OR NOT v_active OR v_updated <> it.service_version THEN
        outcome := 'stale_service';
        RETURN;
    END IF;
    UPDATE wallets w SET balance = w.balance - it.charge, updated_at = p_now
    WHERE w.customer_id = it.customer_id AND w.balance >= it.charge
    RETURNING w.balance INTO balance;
    IF NOT FOUND THEN
        SELECT w.balance INTO balance FROM wallets w WHERE w.customer_id = it.customer_id;
        outcome := CASE WHEN FOUND THEN 'insufficient' ELSE 'no_wallet' END;
        RETURN;
    END IF;
    INSERT INTO orders (id, customer_id, service_id, service_name, quantity, link, custom_comments,
                        client_order_ref, idempotency_key, request_fingerprint, price_per_1000,
                        charge, status, created_at, updated_at, provider_id, provider_service,
                        upstream, next_attempt_at, request_signature)
    VALUES (it.order_id, it.customer_id, it.service_id, it.service_name, it.quantity, it.link, it.custom_comments,
            it.client_order_ref, it.key, decode(it.fingerprint, 'hex'), it.price_per_1000, it.charge, it.status,
            p_now, p_now, it.provider_id, it.provider_service, it.upstream, p_now, decode(it.signature, 'hex'))
    RETURNING orders.seq INTO seq;
    INSERT INTO ledger_entries (customer_id, kind, amount, balance_after, reference, order_id, created_at)
    VALUES (it.customer_id, 'order_charge', -it.charge, balance, 'order:' || it.order_id, it.order_id, p_now);
    outcome := 'created';
END;
$$;

-- Outcomes per item as in 0004 (item = position in p_items).
CREATE FUNCTION kassa_place_orders(p_items jsonb, p_now bigint, p_isolated boolean)
RETURNS TABLE (item integer, outcome text, seq bigint, balance bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    it kassa_order_item;
    placed record;
BEGIN
    FOR i IN 0 .. jsonb_array_length(p_items) - 1 LOOP
        it := jsonb_populate_record(NULL::kassa_order_item, p_items -> i);
        item := i;
        IF p_isolated THEN
            BEGIN
                placed := kassa_place_order(it, p_now);
                outcome := placed.outcome;
                seq := placed.seq;
                balance := placed.balance;
            EXCEPTION WHEN unique_violation THEN
                outcome := 'race';
                seq := NULL;
                balance := NULL;
            END;
        ELSE
            placed := kassa_place_order(it, p_now);
            outcome := placed.outcome;
            seq := placed.seq;
            balance := placed.balance;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- The two-argument form stays for nodes not yet upgraded: every item isolated, as before.
CREATE OR REPLACE FUNCTION kassa_place_orders(p_items jsonb, p_now bigint)
RETURNS TABLE (item integer, outcome text, seq bigint, balance bigint)
LANGUAGE sql AS $$
    SELECT * FROM kassa_place_orders(p_items, p_now, true);
$$;
