-- A signed order request places at most one order (see the SQLite twin for why).
ALTER TABLE orders ADD COLUMN request_signature BYTEA;
CREATE UNIQUE INDEX orders_request_signature ON orders (customer_id, request_signature)
    WHERE request_signature IS NOT NULL;

-- (Replaces the version of 0003: the signature is checked and stored with the order.)
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
--   signature_conflict  this signed request already placed an order (a replay under a new key)
--   stale_service the service changed since it was quoted (re-quote and retry)
--   insufficient  balance: the wallet does not cover the charge
--   no_wallet     the customer has no wallet
--   race          a concurrent transaction committed the same key, reference or id first (retry)
CREATE OR REPLACE FUNCTION kassa_place_orders(p_items jsonb, p_now bigint)
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
            ELSIF it ->> 'signature' IS NOT NULL AND EXISTS (
                SELECT 1 FROM orders o WHERE o.customer_id = (it ->> 'customer_id')::bigint
                                         AND o.request_signature = decode(it ->> 'signature', 'hex')) THEN
                outcome := 'signature_conflict';
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
                                            charge, status, created_at, updated_at, provider_id, provider_service,
                                            upstream, next_attempt_at, request_signature)
                        VALUES (it ->> 'order_id', (it ->> 'customer_id')::bigint, (it ->> 'service_id')::bigint,
                                it ->> 'service_name', (it ->> 'quantity')::bigint, it ->> 'link', it ->> 'custom_comments',
                                it ->> 'client_order_ref', it ->> 'key', decode(it ->> 'fingerprint', 'hex'),
                                (it ->> 'price_per_1000')::numeric, (it ->> 'charge')::bigint, it ->> 'status', p_now, p_now,
                                (it ->> 'provider_id')::bigint, it ->> 'provider_service', it ->> 'upstream', p_now,
                                decode(it ->> 'signature', 'hex'))
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
