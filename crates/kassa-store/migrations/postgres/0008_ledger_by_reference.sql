-- An order's charge and refund are found by their references (`order:<id>`, `refund:<id>`, unique),
-- which every order entry must carry (the books check it), so the index by order id is dropped:
-- it was read only by the books audit, yet every order wrote an entry into it at a random place
-- (its key is the random order id), about a ninth of the pages an order writes (BENCHMARKS.md).
DROP INDEX ledger_by_order;
