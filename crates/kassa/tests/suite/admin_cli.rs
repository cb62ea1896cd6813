//! The admin CLI contract: the commands and `--json` shapes other tools rely on.

use kassa_client::{Client, CreateOrderRequest, RetryPolicy};
use serde_json::Value;

use crate::support::process::KassaEnv;
use crate::support::{Backend, TestDb};

crate::backend_tests!(admin_commands_print_their_documented_json, demo_prints_a_request_that_works);

fn stderr_of(env: &KassaEnv, args: &[&str]) -> String {
    let output = env.run(args);
    assert!(!output.status.success(), "kassa {args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn admin_commands_print_their_documented_json(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    // A pool of one would open two connections (key lookups have their own): refused up front on
    // PostgreSQL. SQLite has no pool: the setting does not concern it and must not stop it.
    let pool_of_one = ["migrate", "--pg-pool-size", "1"];
    match backend {
        Backend::Postgres => {
            assert!(stderr_of(&env, &pool_of_one).contains("pg_pool_size must be at least 2, got 1"))
        }
        Backend::Sqlite => assert!(env.run(&pool_of_one).status.success()),
    }

    let customer = env.json(&[
        "admin",
        "customer",
        "create",
        "--email",
        "ops@example.com",
        "--first-name",
        "Ada",
        "--last-name",
        "L",
        "--phone",
        "380637312675",
    ]);
    let id = customer["id"].as_i64().expect("id");
    assert_eq!(customer["user_id"].as_str().map(str::len), Some(6));
    assert_eq!((customer["email"].as_str(), customer["first_name"].as_str()), (Some("ops@example.com"), Some("Ada")));
    assert!(stderr_of(&env, &["admin", "customer", "create", "--email", "OPS@example.com"]).contains("already exists"));
    let cid = id.to_string();

    let credit =
        env.json(&["admin", "wallet", "credit", "--customer", &cid, "--amount", "100.00", "--note", "first top-up"]);
    assert_eq!((credit["balance"].as_f64(), credit["currency"].as_str()), (Some(100.0), Some("USD")));
    assert!(stderr_of(&env, &["admin", "wallet", "credit", "--customer", &cid, "--amount", "0.001"])
        .contains("decimal places"));
    let wire = ["admin", "wallet", "credit", "--customer", &cid, "--amount", "5", "--reference", "wire-42"];
    let credit = env.json(&wire);
    assert_eq!((credit["balance"].as_f64(), &credit["already_posted"]), (Some(105.0), &Value::Bool(false)));
    // A retry (its first answer lost) gets the original entry back and credits nothing more.
    let retried = env.json(&wire);
    assert_eq!((&retried["entry"], &retried["already_posted"]), (&credit["entry"], &Value::Bool(true)));
    // Posted first from a host whose clock runs an hour ahead: the store, not the clocks, says
    // the retry applied nothing.
    db.execute_sql("UPDATE ledger_entries SET created_at = created_at + 3600000 WHERE reference = 'wire-42'").await;
    assert_eq!(env.json(&wire)["already_posted"], Value::Bool(true));
    assert_eq!(env.json(&["admin", "wallet", "show", "--customer", &cid])["balance"].as_f64(), Some(105.0));
    assert!(
        stderr_of(&env, &["admin", "wallet", "credit", "--customer", &cid, "--amount", "6", "--reference", "wire-42"])
            .contains("already used for another entry"),
        "a reference names one entry"
    );
    assert!(
        stderr_of(
            &env,
            &["admin", "wallet", "credit", "--customer", &cid, "--amount", "5", "--reference", "refund:BSAPI-X"]
        )
        .contains("belong to orders"),
        "order references are the orders' own"
    );
    assert!(stderr_of(&env, &["admin", "wallet", "debit", "--customer", &cid, "--amount", "5"]).contains("--confirm"));
    let debit = env.json(&["admin", "wallet", "debit", "--customer", &cid, "--amount", "5", "--confirm"]);
    assert_eq!(debit["balance"].as_f64(), Some(100.0));
    let shown = env.json(&["admin", "wallet", "show", "--customer", &cid]);
    assert_eq!((shown["balance"].as_f64(), shown["currency"].as_str()), (Some(100.0), Some("USD")));
    let ledger = env.json(&["admin", "wallet", "ledger", "--customer", &cid]);
    assert_eq!(ledger["entries"].as_array().map(Vec::len), Some(3));

    let service = env.json(&[
        "admin",
        "service",
        "create",
        "--name",
        "Followers",
        "--category",
        "Instagram",
        "--type",
        "default",
        "--price-per-1000",
        "0.45",
        "--min",
        "10",
        "--max",
        "10000",
    ]);
    let sid = service["id"].as_i64().unwrap().to_string();
    assert_eq!(
        (service["type"].as_str(), service["price_per_1000"].as_f64(), service["min"].as_u64()),
        (Some("default"), Some(0.45), Some(10))
    );
    let updated = env.json(&["admin", "service", "update", &sid, "--price-per-1000", "0.50", "--max", "20000"]);
    assert_eq!((updated["price_per_1000"].as_f64(), updated["max"].as_u64()), (Some(0.5), Some(20000)));
    let listed = env.json(&["admin", "service", "list"]);
    assert_eq!(listed["services"].as_array().map(Vec::len), Some(1));
    assert!(stderr_of(
        &env,
        &[
            "admin",
            "service",
            "create",
            "--name",
            "x",
            "--category",
            "c",
            "--type",
            "weird",
            "--price-per-1000",
            "1",
            "--min",
            "1",
            "--max",
            "2"
        ]
    )
    .contains("service type"));

    let key = env.json(&[
        "admin",
        "key",
        "create",
        "--customer",
        &cid,
        "--allow-ip",
        "127.0.0.1",
        "--rate-limit-per-minute",
        "100",
        "--service",
        &sid,
    ]);
    let api_key = key["api_key"].as_str().unwrap().to_string();
    let secret = key["api_secret"].as_str().unwrap().to_string();
    assert!(api_key.starts_with("bs_live_"));
    assert_eq!(
        (key["rate_limit_per_minute"].as_u64(), key["allowed_ips"][0].as_str()),
        (Some(100), Some("127.0.0.1/32"))
    );
    let keys = env.json(&["admin", "key", "list", "--customer", &cid]);
    assert!(!keys.to_string().contains(&secret), "the secret is shown once, never listed");

    let server = env.serve(&[]);
    let client = Client::with_retry(&server.base_url, &api_key, &secret, RetryPolicy::none()).unwrap();
    let order = |quantity| CreateOrderRequest {
        service_id: sid.parse().unwrap(),
        quantity,
        link: "https://x".into(),
        client_order_ref: None,
        custom_comments: None,
    };
    let a = client.create_order(&order(1000), None).await.unwrap().order.id;
    let b = client.create_order(&order(1000), None).await.unwrap().order.id;
    let c = client.create_order(&order(1000), None).await.unwrap().order.id;

    let listed = env.json(&["admin", "order", "list", "--customer", &cid]);
    assert_eq!(listed["orders"].as_array().map(Vec::len), Some(3));
    assert_eq!(listed["total"].as_u64(), Some(3));
    let shown = env.json(&["admin", "order", "show", &a]);
    assert_eq!(
        (shown["id"].as_str(), shown["customer_id"].as_i64(), shown["status"].as_str()),
        (Some(a.as_str()), Some(id), Some("pending"))
    );
    assert_eq!(env.json(&["admin", "order", "set-status", &a, "in_progress"])["status"], "in_progress");
    assert_eq!(env.json(&["admin", "order", "set-status", &a, "completed"])["status"], "completed");
    assert!(
        stderr_of(&env, &["admin", "order", "set-status", &b, "canceled"]).contains("use partial, cancel or refund")
    );
    let partial = env.json(&["admin", "order", "partial", &b, "--remains", "400"]);
    assert_eq!((partial["status"].as_str(), partial["refunded"].as_f64()), (Some("partial"), Some(0.2)));
    assert!(stderr_of(&env, &["admin", "order", "partial", &b, "--remains", "100"]).contains("already partial"));
    assert!(stderr_of(&env, &["admin", "order", "cancel", &b]).contains("cannot become"));
    let canceled = env.json(&["admin", "order", "cancel", &c]);
    assert_eq!((canceled["status"].as_str(), canceled["refunded"].as_f64()), (Some("canceled"), Some(0.5)));
    assert!(
        stderr_of(&env, &["admin", "order", "cancel", &c]).contains("already canceled"),
        "a second cancel pays nothing"
    );
    assert!(stderr_of(&env, &["admin", "order", "refund", &a]).contains("--confirm"));
    let refunded = env.json(&["admin", "order", "refund", &a, "--confirm"]);
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(env.json(&["admin", "order", "list", "--status", "partial"])["total"].as_u64(), Some(1));
    assert_eq!(
        client.balance().await.unwrap().balance.to_string(),
        "99.70",
        "100 - 3 x 0.50 + 0.20 (partial) + 0.50 (cancel) + 0.50 (refund)"
    );

    for (action, status) in [("disable", "disabled"), ("enable", "active"), ("revoke", "revoked")] {
        let changed = env.json(&["admin", "key", action, &api_key]);
        assert_eq!(changed["status"], status);
    }
    let refused = client.balance().await.unwrap_err();
    assert_eq!(refused.code(), Some("invalid_api_key"));
    assert!(stderr_of(&env, &["admin", "key", "enable", &api_key]).contains("stays revoked"));

    let books: Value = env.json(&["admin", "books"]);
    assert_eq!((books["balanced"].as_bool(), books["orders"].as_u64()), (Some(true), Some(3)), "{books}");
    assert!(stderr_of(&env, &["admin", "order", "show", "BSAPI-ZZZZZZZZZZZZ"]).contains("not found"));
}

async fn demo_prints_a_request_that_works(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    let server = env.serve(&["--demo"]);
    let banner = server.banner.join("\n");
    assert!(banner.contains("KASSA_API_KEY=bs_live_"), "{banner}");
    assert!(banner.contains("database: "), "start-up names the database: {banner}");
    let curl: String = server
        .banner
        .iter()
        .skip_while(|l| !l.trim_start().starts_with("curl "))
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim_end_matches('\\').trim().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let output = std::process::Command::new("sh").arg("-c").arg(&curl).output().expect("run curl");
    let body: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{curl}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(
        (body["success"].as_bool(), body["balance"].as_f64(), body["currency"].as_str()),
        (Some(true), Some(100.0), Some("USD"))
    );
    drop(server);
    // A second --demo on the same database adds nothing.
    let again = env.serve(&["--demo"]);
    assert!(again.banner.join("\n").contains("already has customers"));
    assert_eq!(env.json(&["admin", "customer", "list"])["customers"].as_array().map(Vec::len), Some(1));
}
