-- Every signed request needs its key's record: the key row, its sealed secret and its customer's
-- status. The store keeps the records it has read in memory, each with the value `auth_epoch.n`
-- had in the snapshot it was read in, and reuses one only in a snapshot where `n` is the same.
-- These triggers give `n` a new random value in the same transaction as any change to a key or a
-- customer, made by any process or by hand; so an unchanged `n` means unchanged rows, and a
-- revoked key is refused on its very next request. Random rather than counted, so a database
-- restored from a backup cannot bring back a value that once meant other rows.
CREATE TABLE auth_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;
INSERT INTO auth_epoch (id, n) VALUES (1, random());

CREATE TRIGGER api_keys_insert_moves_auth_epoch AFTER INSERT ON api_keys
BEGIN UPDATE auth_epoch SET n = random(); END;
CREATE TRIGGER api_keys_update_moves_auth_epoch AFTER UPDATE ON api_keys
BEGIN UPDATE auth_epoch SET n = random(); END;
CREATE TRIGGER api_keys_delete_moves_auth_epoch AFTER DELETE ON api_keys
BEGIN UPDATE auth_epoch SET n = random(); END;
CREATE TRIGGER customers_insert_moves_auth_epoch AFTER INSERT ON customers
BEGIN UPDATE auth_epoch SET n = random(); END;
CREATE TRIGGER customers_update_moves_auth_epoch AFTER UPDATE ON customers
BEGIN UPDATE auth_epoch SET n = random(); END;
CREATE TRIGGER customers_delete_moves_auth_epoch AFTER DELETE ON customers
BEGIN UPDATE auth_epoch SET n = random(); END;
