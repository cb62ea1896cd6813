//! PostgreSQL's plans for the pages a customer reads (order list, ledger) and an operator reads
//! (webhook deliveries, orders by upstream state): they must read the filtered column's own index
//! however large the table and whatever was written since, so that a page costs the same at a
//! thousand rows and at millions. The SQLite twins are checked for their answers.

use kassa_core::catalog::ServiceKind;
use kassa_core::CustomerId;
use kassa_core::OrderStatus;
use kassa_store::model::{DeliveryFilter, DeliveryState, NewCustomer, NewService, NewWebhook, OrderFilter, Upstream};
use kassa_store::postgres::{delivery_page_sql, ledger_page_sql, order_page_sql, upstream_page_sql};
use serde_json::Value;

use crate::support::{Backend, StoreOptions, TestDb};

crate::backend_tests!(
    delivery_pages_answer_every_filter_from_the_newest,
    upstream_pages_of_a_customer_come_from_their_orders
);

/// Every index a plan reads, in plan order.
fn indexes(plan: &Value, found: &mut Vec<String>) {
    match plan {
        Value::Object(node) => {
            if let Some(Value::String(name)) = node.get("Index Name") {
                found.push(name.clone());
            }
            node.values().for_each(|v| indexes(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| indexes(v, found)),
        _ => {}
    }
}

/// The service every test order here is for.
async fn followers(store: &dyn kassa_store::Store) -> i64 {
    let service = NewService {
        name: "Followers".into(),
        category: "Test".into(),
        kind: ServiceKind::Default,
        price_per_1000: "1.00".parse().unwrap(),
        min: 1,
        max: 100_000,
    };
    store.create_service(service).await.unwrap().id
}

/// Asserts that PostgreSQL reads exactly one index for `sql` with `args`, one of `allowed`, at
/// each of seven executions: past the fifth it may switch to a generic plan, so both are checked.
async fn assert_reads_one_of(client: &tokio_postgres::Client, sql: &str, args: &str, allowed: &[&str]) {
    for execution in 1..=7 {
        let plan = plan_of(client, sql, args).await;
        assert!(
            plan.len() == 1 && allowed.contains(&plan[0].as_str()),
            "execution {execution} of {sql} with ({args}) read {plan:?}, not one of {allowed:?}"
        );
        client.batch_execute(&format!("EXECUTE page({args})")).await.unwrap();
    }
}

/// The indexes PostgreSQL reads for `sql` prepared as the store prepares it, executed with `args`.
async fn plan_of(client: &tokio_postgres::Client, sql: &str, args: &str) -> Vec<String> {
    client.batch_execute(&format!("DEALLOCATE ALL; PREPARE page AS {sql}")).await.expect("prepare the page");
    let answer = client.simple_query(&format!("EXPLAIN (FORMAT JSON) EXECUTE page({args})")).await.expect("explain");
    let plan = answer.iter().find_map(|message| match message {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    });
    let plan: Value = serde_json::from_str(plan.expect("a plan")).expect("plan JSON");
    let mut found = Vec::new();
    indexes(limit_node(&plan).unwrap_or(&plan), &mut found);
    found
}

/// The first `Limit` node of a plan: the page. An order list's statement also counts the total
/// (`with_total` in the store), whose reads are not the page's.
fn limit_node(plan: &Value) -> Option<&Value> {
    match plan {
        Value::Object(node) if node.get("Node Type").and_then(Value::as_str) == Some("Limit") => Some(plan),
        Value::Object(node) => node.values().find_map(limit_node),
        Value::Array(items) => items.iter().find_map(limit_node),
        _ => None,
    }
}

/// A customer with a large share of the table whose orders are all older than another
/// customer's: the newest page of theirs is 12,000 rows back in the primary key. Walking the key
/// backwards and filtering (PostgreSQL's choice for such a customer when the filter is a plain
/// `customer_id = $1`) reads every newer order of everyone; the page must come from the index
/// that starts with the customer (and status), and be right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pages_of_a_big_customer_read_their_index_not_everyone_newer() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = db.open(&StoreOptions::default()).await;
    let customer = |email: &str| NewCustomer { email: email.into(), ..Default::default() };
    let heavy = store.create_customer(customer("heavy@example.com")).await.unwrap().id.0;
    let busy = store.create_customer(customer("busy@example.com")).await.unwrap().id.0;
    let service = followers(store.as_ref()).await;
    // Written directly: 16,000 orders through the API would take a while.
    let orders = |who: i64, prefix: &str, from: u32, to: u32, status: &str| {
        format!(
            "INSERT INTO orders (id, customer_id, service_id, service_name, quantity, link, idempotency_key,
                                 request_fingerprint, price_per_1000, charge, status, created_at, updated_at)
             SELECT 'BSAPI-{prefix}' || lpad(n::text, 11, '0'), {who}, {service}, 'Followers', 1000, 'https://x',
                    'key-' || n, '\\x00',
                    1, 100, {status}, n, n FROM generate_series({from}, {to}) n;
             INSERT INTO ledger_entries (customer_id, kind, amount, balance_after, reference, order_id, created_at)
             SELECT {who}, 'order_charge', -100, 0, 'order:BSAPI-{prefix}' || lpad(n::text, 11, '0'),
                    'BSAPI-{prefix}' || lpad(n::text, 11, '0'), n
             FROM generate_series({from}, {to}) n;"
        )
    };
    db.execute_sql(&orders(heavy, "H", 1, 4_000, "CASE WHEN n % 4 = 0 THEN 'completed' ELSE 'pending' END")).await;
    db.execute_sql(&orders(busy, "B", 4_001, 16_000, "'completed'")).await;
    db.execute_sql("ANALYZE orders; ANALYZE ledger_entries;").await;

    let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let cases = [
        (order_page_sql(true, false), format!("{heavy}, NULL, 50, 0"), "orders_by_customer"),
        (order_page_sql(true, true), format!("{heavy}, 'completed', 50, 0"), "orders_by_customer_status"),
        (order_page_sql(false, true), "NULL, 'pending', 50, 0".to_string(), "orders_by_status"),
        (ledger_page_sql(), format!("{heavy}, 20"), "ledger_by_customer"),
    ];
    for (sql, args, index) in &cases {
        assert_reads_one_of(&client, sql, args, &[index]).await;
    }

    // And the pages are the customer's newest, newest first, with the right totals.
    let page =
        |status| OrderFilter { customer_id: Some(CustomerId(heavy)), status, upstream: None, page: 1, limit: 50 };
    let all = store.list_orders(page(None)).await.unwrap();
    let ids: Vec<String> = all.orders.iter().map(|o| o.id.as_str().to_string()).collect();
    let expected: Vec<String> = (3_951..=4_000).rev().map(|n| format!("BSAPI-H{n:011}")).collect();
    assert_eq!((ids, all.total), (expected, 4_000));
    let completed = store.list_orders(page(Some(OrderStatus::Completed))).await.unwrap();
    let ids: Vec<String> = completed.orders.iter().map(|o| o.id.as_str().to_string()).collect();
    let expected: Vec<String> = (0..50).map(|k| format!("BSAPI-H{:011}", 4_000 - 4 * k)).collect();
    assert_eq!((ids, completed.total), (expected, 1_000));
    let ledger = store.ledger(CustomerId(heavy), 20).await.unwrap();
    let references: Vec<&str> = ledger.iter().map(|e| e.reference.as_str()).collect();
    let expected: Vec<String> = (3_981..=4_000).rev().map(|n| format!("order:BSAPI-H{n:011}")).collect();
    assert_eq!(references, expected);
}

/// 3,000 deliveries over three endpoints (two of one customer): the 30 oldest failed, the 10
/// newest pending, the rest delivered. Every combination of the operator's filters answers the
/// newest matching deliveries, newest first; on PostgreSQL the failed ones and one endpoint's come
/// from their own index, not from a walk back through everything delivered since.
async fn delivery_pages_answer_every_filter_from_the_newest(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open(&StoreOptions::default()).await;
    let customer = |email: &str| NewCustomer { email: email.into(), ..Default::default() };
    let one = store.create_customer(customer("one@example.com")).await.unwrap().id;
    let other = store.create_customer(customer("other@example.com")).await.unwrap().id;
    let hook = |customer_id| NewWebhook {
        customer_id,
        url: "https://hooks.example.com/kassa".into(),
        secret_sealed: vec![1, 2, 3],
    };
    let endpoints = [
        store.create_webhook(hook(one)).await.unwrap().id,
        store.create_webhook(hook(one)).await.unwrap().id,
        store.create_webhook(hook(other)).await.unwrap().id,
    ];
    const N: i64 = 3_000;
    let state_of = |i: i64| match i {
        ..=30 => "failed",
        2_991.. => "pending",
        _ => "delivered",
    };
    let endpoint_of = |i: i64| endpoints[(i % 3) as usize];
    // Written directly, in one statement (ids follow `i`): 3,000 deliveries through the worker
    // would take a while.
    db.execute_sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N})
         INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload, state, attempts, created_at, updated_at)
         SELECT CASE i % 3 WHEN 0 THEN {} WHEN 1 THEN {} ELSE {} END, 'msg-' || i, 'order.status', '{{}}',
                CASE WHEN i <= 30 THEN 'failed' WHEN i > 2990 THEN 'pending' ELSE 'delivered' END, 1, i, i
         FROM n",
        endpoints[0], endpoints[1], endpoints[2]
    ))
    .await;
    db.execute_sql("ANALYZE webhook_deliveries").await;

    let limit = 25;
    for endpoint in [None, Some(endpoints[1])] {
        for state in [None, Some(DeliveryState::Failed), Some(DeliveryState::Pending)] {
            for customer_id in [None, Some(one), Some(other)] {
                let filter = DeliveryFilter { endpoint_id: endpoint, customer_id, state, limit };
                let page = store.deliveries(filter.clone()).await.unwrap();
                let got: Vec<String> = page.iter().map(|d| d.message_id.clone()).collect();
                let expected: Vec<String> = (1..=N)
                    .rev()
                    .filter(|&i| endpoint.is_none_or(|e| endpoint_of(i) == e))
                    .filter(|&i| state.is_none_or(|s| state_of(i) == s.as_str()))
                    .filter(|&i| match customer_id {
                        None => true,
                        Some(c) if c == one => i % 3 != 2,
                        Some(_) => i % 3 == 2,
                    })
                    .take(limit as usize)
                    .map(|i| format!("msg-{i}"))
                    .collect();
                assert_eq!(got, expected, "{filter:?}");
            }
        }
    }

    if backend == Backend::Postgres {
        let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        // With both filters either index bounds the page (PostgreSQL takes the few failed ones and
        // sorts them here); neither is a walk through everything.
        let (by_state, by_endpoint) = ("webhook_deliveries_by_state", "webhook_deliveries_by_endpoint");
        let cases = [
            (delivery_page_sql(false, true, false), "25, 'failed'".to_string(), vec![by_state]),
            (delivery_page_sql(true, false, false), format!("25, {}", endpoints[1]), vec![by_endpoint]),
            (
                delivery_page_sql(true, true, false),
                format!("25, {}, 'failed'", endpoints[1]),
                vec![by_state, by_endpoint],
            ),
        ];
        for (sql, args, allowed) in &cases {
            assert_reads_one_of(&client, sql, args, allowed).await;
        }
    }
}

/// The operator's order list by upstream state: 3,000 orders, the 300 oldest a small customer's,
/// the rest a busy one's; every seventh needs review, the rest are manual; every other is pending.
/// Every combination of customer, status and upstream state answers the newest matching orders
/// and their count; on PostgreSQL the small customer's page comes from their own orders, not from
/// a walk back through the 2,700 newer manual orders of the busy one.
async fn upstream_pages_of_a_customer_come_from_their_orders(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open(&StoreOptions::default()).await;
    let customer = |email: &str| NewCustomer { email: email.into(), ..Default::default() };
    let small = store.create_customer(customer("small@example.com")).await.unwrap().id;
    let busy = store.create_customer(customer("busy@example.com")).await.unwrap().id;
    let service = followers(store.as_ref()).await;
    const N: i64 = 3_000;
    let owner = |i: i64| if i <= 300 { small } else { busy };
    let upstream_of = |i: i64| if i % 7 == 0 { Upstream::NeedsReview } else { Upstream::Manual };
    let status_of = |i: i64| if i % 2 == 0 { OrderStatus::Pending } else { OrderStatus::Completed };
    let blob = if backend == Backend::Postgres { "'\\x00'" } else { "X'00'" };
    // Written directly, in one statement (seq follows `i`); ids are BSAPI- and 100,000,000,000 + `i`.
    db.execute_sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N})
         INSERT INTO orders (id, customer_id, service_id, service_name, quantity, link, idempotency_key,
                             request_fingerprint, price_per_1000, charge, status, upstream, created_at, updated_at)
         SELECT 'BSAPI-' || (100000000000 + i), CASE WHEN i <= 300 THEN {small} ELSE {busy} END, {service},
                'Followers', 1000, 'https://x', 'key-' || i, {blob}, '1.00', 100,
                CASE WHEN i % 2 = 0 THEN 'pending' ELSE 'completed' END,
                CASE WHEN i % 7 = 0 THEN 'needs_review' ELSE 'manual' END, i, i
         FROM n"
    ))
    .await;
    db.execute_sql("ANALYZE orders").await;

    let limit = 20;
    for upstream in [Upstream::Manual, Upstream::NeedsReview] {
        for customer_id in [None, Some(small), Some(busy)] {
            for status in [None, Some(OrderStatus::Pending)] {
                let filter = OrderFilter { customer_id, status, upstream: Some(upstream), page: 2, limit };
                let page = store.list_orders(filter.clone()).await.unwrap();
                let matching: Vec<i64> = (1..=N)
                    .rev()
                    .filter(|&i| upstream_of(i) == upstream)
                    .filter(|&i| customer_id.is_none_or(|c| owner(i) == c))
                    .filter(|&i| status.is_none_or(|s| status_of(i) == s))
                    .collect();
                let expected: Vec<String> = matching
                    .iter()
                    .skip(limit as usize)
                    .take(limit as usize)
                    .map(|i| format!("BSAPI-{}", 100_000_000_000 + i))
                    .collect();
                let got: Vec<String> = page.orders.iter().map(|o| o.id.as_str().to_string()).collect();
                assert_eq!((got, page.total), (expected, matching.len() as u64), "{filter:?}");
            }
        }
    }

    if backend == Backend::Postgres {
        let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let customer_indexes = ["orders_by_customer", "orders_by_customer_status"];
        for (status, args) in
            [(false, format!("{small}, NULL, 'manual', 20, 0")), (true, format!("{small}, 'pending', 'manual', 20, 0"))]
        {
            assert_reads_one_of(&client, &upstream_page_sql(true, status), &args, &customer_indexes).await;
        }
    }
}
