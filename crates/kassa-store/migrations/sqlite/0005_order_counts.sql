-- How many orders each customer has in each status, kept by triggers in the same transaction as
-- every insert and status change. `GET /api/v1/orders` answers `total` from here instead of
-- counting the customer's orders, so a list costs the same with a thousand orders or millions.
CREATE TABLE order_counts (
    customer_id INTEGER NOT NULL,
    status      TEXT NOT NULL,
    count       INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (customer_id, status)
) WITHOUT ROWID;

INSERT INTO order_counts (customer_id, status, count)
    SELECT customer_id, status, COUNT(*) FROM orders GROUP BY customer_id, status;

CREATE TRIGGER orders_counted_on_insert AFTER INSERT ON orders BEGIN
    INSERT INTO order_counts (customer_id, status, count) VALUES (NEW.customer_id, NEW.status, 1)
        ON CONFLICT (customer_id, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER orders_counted_on_status AFTER UPDATE OF status ON orders
    WHEN OLD.status <> NEW.status OR OLD.customer_id <> NEW.customer_id BEGIN
    UPDATE order_counts SET count = count - 1 WHERE customer_id = OLD.customer_id AND status = OLD.status;
    INSERT INTO order_counts (customer_id, status, count) VALUES (NEW.customer_id, NEW.status, 1)
        ON CONFLICT (customer_id, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER orders_counted_on_delete AFTER DELETE ON orders BEGIN
    UPDATE order_counts SET count = count - 1 WHERE customer_id = OLD.customer_id AND status = OLD.status;
END;
