-- A refill request may carry an idempotency key (X-Idempotency-Key): its retry, a lost answer
-- resent by a client or the SDK, answers the refill already asked for instead of asking the
-- provider again.
ALTER TABLE refills ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX refills_idempotency ON refills (order_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
