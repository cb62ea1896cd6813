-- How many orders each customer has in each status (see the SQLite twin for why).
CREATE TABLE order_counts (
    customer_id BIGINT NOT NULL,
    status      TEXT NOT NULL,
    count       BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (customer_id, status)
);

INSERT INTO order_counts (customer_id, status, count)
    SELECT customer_id, status, COUNT(*) FROM orders GROUP BY customer_id, status;

CREATE FUNCTION kassa_count_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE order_counts SET count = count - 1 WHERE customer_id = OLD.customer_id AND status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO order_counts (customer_id, status, count) VALUES (NEW.customer_id, NEW.status, 1)
            ON CONFLICT (customer_id, status) DO UPDATE SET count = order_counts.count + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_counted_on_insert AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION kassa_count_orders();
CREATE TRIGGER orders_counted_on_status AFTER UPDATE OF status, customer_id ON orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION kassa_count_orders();
CREATE TRIGGER orders_counted_on_delete AFTER DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION kassa_count_orders();
