-- A signed order request places at most one order. The idempotency key travels in a header the
-- signature does not cover, so without this a request captured within its 5-minute window could
-- be replayed under a new key; with it, the replay is refused as a duplicate.
ALTER TABLE orders ADD COLUMN request_signature BLOB;
CREATE UNIQUE INDEX orders_request_signature ON orders (customer_id, request_signature)
    WHERE request_signature IS NOT NULL;
