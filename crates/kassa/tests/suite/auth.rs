//! Every authentication error of the BuyShazam dialect, through real signed HTTP requests.

use kassa_client::RawResponse;
use kassa_core::crypto::MasterKey;
use kassa_store::{CustomerStatus, KeyStatus};

use crate::backend_tests;
use crate::support::raw::{now, seed_signature};
use crate::support::{assert_error, Backend, KeyOptions, ServerOptions, TestServer};

backend_tests!(
    signed_requests_pass_with_every_accepted_signature_form,
    missing_headers_are_refused,
    unknown_disabled_and_revoked_keys_are_refused,
    timestamps_must_be_integers_in_the_window,
    wrong_signatures_are_refused,
    query_string_may_be_signed_with_or_without_the_query,
    ip_allow_list_is_enforced,
    forwarded_for_counts_behind_a_trusted_proxy,
    rate_limit_answers_429_with_retry_after,
    an_address_that_keeps_failing_authentication_is_turned_away,
    disabled_customer_is_not_found,
    changes_made_beside_the_server_reach_the_next_request,
    undecryptable_secret_is_an_auth_error,
    unsigned_endpoints_answer_without_auth,
    unknown_routes_and_methods_use_the_envelope,
);

async fn signed_requests_pass_with_every_accepted_signature_form(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("1.00").await;
    let signer = account.signer();
    let ts = now().to_string();
    let sig = seed_signature(&account.secret, "GET", "/api/v1/balance", &ts, b"");
    for form in [sig.clone(), format!("sha256={sig}"), sig.to_uppercase(), format!("sha256={}", sig.to_uppercase())] {
        let response = signer.get("/api/v1/balance").timestamp(&ts).signature(&form).send().await;
        assert_eq!(response.status, 200, "form {form}: {}", String::from_utf8_lossy(&response.body));
        let body = response.json().unwrap();
        assert_eq!(body["success"], true);
        assert!(String::from_utf8_lossy(&response.body).contains(r#""balance":1.00"#), "money is written exactly");
        assert_eq!(body["currency"], "USD");
        assert_eq!(body["woo_customer_id"], account.customer.0);
    }
}

async fn missing_headers_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let signer = account.signer();
    for header in ["x-api-key", "x-timestamp", "x-signature"] {
        let response = signer.get("/api/v1/balance").without(header).send().await;
        assert_error(&response, 401, "missing_auth_headers");
        let response = signer.get("/api/v1/balance").header(header, "").without(header).send().await;
        assert_error(&response, 401, "missing_auth_headers");
    }
    let response = signer.get("/api/v1/balance").api_key("   ").send().await;
    assert_error(&response, 401, "missing_auth_headers");
}

async fn unknown_disabled_and_revoked_keys_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let signer = account.signer();
    assert_error(&signer.get("/api/v1/balance").api_key("bs_live_doesnotexist").send().await, 401, "invalid_api_key");
    assert_error(&signer.get("/api/v1/balance").api_key("not a key at all").send().await, 401, "invalid_api_key");

    server.store.set_api_key_status(&account.key.api_key, KeyStatus::Disabled).await.unwrap();
    assert_error(&signer.get("/api/v1/balance").send().await, 401, "invalid_api_key");
    server.store.set_api_key_status(&account.key.api_key, KeyStatus::Active).await.unwrap();
    assert_eq!(signer.get("/api/v1/balance").send().await.status, 200);

    server.store.set_api_key_status(&account.key.api_key, KeyStatus::Revoked).await.unwrap();
    assert_error(&signer.get("/api/v1/balance").send().await, 401, "invalid_api_key");
    assert!(
        server.store.set_api_key_status(&account.key.api_key, KeyStatus::Active).await.is_err(),
        "revocation is final"
    );
}

async fn timestamps_must_be_integers_in_the_window(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let signer = account.signer();
    for bad in ["abc", "1.5", "1e9", "-5", "+5", "", " "] {
        let response = signer.get("/api/v1/balance").timestamp(bad).send().await;
        let code = if bad.trim().is_empty() { "missing_auth_headers" } else { "invalid_timestamp" };
        assert_error(&response, 401, code);
    }
    for skew in [-301, 301, -100_000, 100_000] {
        let response = signer.get("/api/v1/balance").timestamp(now() + skew).send().await;
        assert_error(&response, 401, "timestamp_out_of_range");
    }
    for skew in [-290, 290] {
        let response = signer.get("/api/v1/balance").timestamp(now() + skew).send().await;
        assert_eq!(response.status, 200, "a skew of {skew}s is inside the window");
    }
}

async fn wrong_signatures_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("5.00").await;
    let service = server.service(kassa_core::catalog::ServiceKind::Default, "1.00", 1, 1000).await;
    let signer = account.signer();
    assert_error(&signer.get("/api/v1/balance").secret("wrong secret").send().await, 401, "invalid_signature");
    assert_error(&signer.get("/api/v1/balance").signature("sha256=nothex").send().await, 401, "invalid_signature");
    assert_error(&signer.get("/api/v1/balance").signature(&"ab".repeat(31)).send().await, 401, "invalid_signature");
    assert_error(&signer.get("/api/v1/balance").sign_method("POST").send().await, 401, "invalid_signature");
    assert_error(&signer.get("/api/v1/balance").sign_path("/api/v1/services").send().await, 401, "invalid_signature");
    // The body is covered: a signature over another body does not authorize this one.
    let body = serde_json::json!({"service_id": service.id, "quantity": 10, "link": "https://x"});
    let ts = now().to_string();
    let other = seed_signature(&account.secret, "POST", "/api/v1/orders", &ts, b"{}");
    let response = signer.order(&body, "k1").timestamp(&ts).signature(&format!("sha256={other}")).send().await;
    assert_error(&response, 401, "invalid_signature");
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 500, "nothing was charged");
}

async fn query_string_may_be_signed_with_or_without_the_query(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let signer = account.signer();
    let with = signer.get("/api/v1/orders?page=2&limit=5").send().await;
    assert_eq!(with.status, 200, "{}", String::from_utf8_lossy(&with.body));
    assert_eq!(with.json().unwrap()["page"], 2);
    let bare = signer.get("/api/v1/orders?page=2&limit=5").sign_path("/api/v1/orders").send().await;
    assert_eq!(bare.status, 200);
    let other = signer.get("/api/v1/orders?page=2&limit=5").sign_path("/api/v1/orders?page=3&limit=5").send().await;
    assert_error(&other, 401, "invalid_signature");
}

async fn ip_allow_list_is_enforced(backend: Backend) {
    let server = TestServer::start(backend).await;
    let elsewhere =
        server.customer_with("0", KeyOptions { allowed_ips: vec!["10.0.0.0/8"], ..Default::default() }).await;
    assert_error(&elsewhere.signer().get("/api/v1/balance").send().await, 403, "ip_not_allowed");
    // X-Forwarded-For from an untrusted peer changes nothing.
    let spoofed = elsewhere.signer().get("/api/v1/balance").header("X-Forwarded-For", "10.1.2.3").send().await;
    assert_error(&spoofed, 403, "ip_not_allowed");
    let here = server
        .customer_with("0", KeyOptions { allowed_ips: vec!["127.0.0.1/32", "10.0.0.0/8"], ..Default::default() })
        .await;
    assert_eq!(here.signer().get("/api/v1/balance").send().await.status, 200);
}

/// Behind a load balancer the peer is the proxy: the client address is the right-most address
/// of `X-Forwarded-For` that is not a trusted proxy itself.
async fn forwarded_for_counts_behind_a_trusted_proxy(backend: Backend) {
    let config = kassa_server::ServerConfig {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap(), "192.0.2.0/24".parse().unwrap()],
        ..Default::default()
    };
    let server = TestServer::start_with(backend, ServerOptions { config, ..Default::default() }).await;
    let office =
        server.customer_with("0", KeyOptions { allowed_ips: vec!["203.0.113.0/24"], ..Default::default() }).await;
    let get = |forwarded: Option<&str>| {
        let request = office.signer().get("/api/v1/balance");
        match forwarded {
            Some(chain) => request.header("X-Forwarded-For", chain),
            None => request,
        }
    };
    // The proxy (127.0.0.1) says the client is 203.0.113.7: allowed.
    assert_eq!(get(Some("203.0.113.7")).send().await.status, 200);
    // Through a second trusted proxy: still the client on the left of it.
    assert_eq!(get(Some("203.0.113.7, 192.0.2.10")).send().await.status, 200);
    // A client that prepends its own claim: the proxy appended the real address, which counts.
    assert_error(&get(Some("203.0.113.7, 198.51.100.9")).send().await, 403, "ip_not_allowed");
    // No header: the peer itself (the proxy's address) is the client.
    assert_error(&get(None).send().await, 403, "ip_not_allowed");
    assert_error(&get(Some("not an address")).send().await, 403, "ip_not_allowed");
}

async fn rate_limit_answers_429_with_retry_after(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer_with("0", KeyOptions { rate_limit_per_minute: 3, ..Default::default() }).await;
    let other = server.customer_with("0", KeyOptions { rate_limit_per_minute: 3, ..Default::default() }).await;
    let signer = account.signer();
    for _ in 0..3 {
        assert_eq!(signer.get("/api/v1/balance").send().await.status, 200);
    }
    let limited = signer.get("/api/v1/balance").send().await;
    assert_error(&limited, 429, "rate_limited");
    let retry_after: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=20).contains(&retry_after), "3/min refills one request every 20 s, got {retry_after}");
    assert_eq!(other.signer().get("/api/v1/balance").send().await.status, 200, "limits are per key");
}

async fn disabled_customer_is_not_found(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    server.store.set_customer_status(account.customer, CustomerStatus::Disabled).await.unwrap();
    assert_error(&account.signer().get("/api/v1/balance").send().await, 404, "customer_not_found");
    server.store.set_customer_status(account.customer, CustomerStatus::Active).await.unwrap();
    assert_eq!(account.signer().get("/api/v1/balance").send().await.status, 200);
}

/// Changes made in SQL on another connection, as another process or an operator at a database
/// shell would, reach the very next request, though the request before read the same key: the
/// SQLite store keeps key records between requests and must notice every such change.
async fn changes_made_beside_the_server_reach_the_next_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("10").await;
    let balance = || async { account.signer().get("/api/v1/balance").send().await };
    let key = &account.key.api_key;
    let balance_is = |response: &RawResponse| response.json().unwrap()["balance"].as_f64();
    assert_eq!(balance_is(&balance().await), Some(10.0));

    server
        .db
        .execute_sql(&format!("UPDATE wallets SET balance = 1234 WHERE customer_id = {}", account.customer.0))
        .await;
    assert_eq!(balance_is(&balance().await), Some(12.34), "the balance is read on every request");

    server.db.execute_sql(&format!("UPDATE api_keys SET allowed_ips = '10.0.0.0/8' WHERE api_key = '{key}'")).await;
    assert_error(&balance().await, 403, "ip_not_allowed");
    server.db.execute_sql(&format!("UPDATE api_keys SET allowed_ips = '' WHERE api_key = '{key}'")).await;
    assert_eq!(balance().await.status, 200);

    server.db.execute_sql(&format!("UPDATE customers SET status = 'disabled' WHERE id = {}", account.customer.0)).await;
    assert_error(&balance().await, 404, "customer_not_found");
    server.db.execute_sql(&format!("UPDATE customers SET status = 'active' WHERE id = {}", account.customer.0)).await;
    assert_eq!(balance().await.status, 200);

    server.db.execute_sql(&format!("UPDATE api_keys SET rate_limit_per_minute = 1 WHERE api_key = '{key}'")).await;
    assert_eq!(balance().await.status, 200);
    assert_error(&balance().await, 429, "rate_limited");
    server.db.execute_sql(&format!("UPDATE api_keys SET rate_limit_per_minute = 600 WHERE api_key = '{key}'")).await;

    // Another key's sealed secret does not open as this key's: the request is refused, not
    // answered with the secret the server opened before.
    let other = server.customer("0").await;
    let other_key = &other.key.api_key;
    server
        .db
        .execute_sql(&format!(
            "UPDATE api_keys SET secret_sealed = (SELECT secret_sealed FROM api_keys WHERE api_key = '{other_key}')
             WHERE api_key = '{key}'"
        ))
        .await;
    assert_error(&balance().await, 500, "auth_error");

    server.db.execute_sql(&format!("UPDATE api_keys SET status = 'revoked' WHERE api_key = '{key}'")).await;
    assert_error(&balance().await, 401, "invalid_api_key");
    server.db.execute_sql(&format!("DELETE FROM api_keys WHERE api_key = '{other_key}'")).await;
    assert_error(&other.signer().get("/api/v1/balance").send().await, 401, "invalid_api_key");
}

/// Every change to any column of `api_keys` or `customers`, and every insert and delete, gives
/// the authentication epoch a new value (the SQLite store's key records are reused only while it
/// holds still). Reads the columns from the schema, so a column added later is covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_change_to_keys_and_customers_moves_the_auth_epoch() {
    let server = TestServer::start(Backend::Sqlite).await;
    let account = server.customer("0").await;
    let conn = rusqlite::Connection::open(server.db.sqlite_path()).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let epoch = || conn.query_row("SELECT n FROM auth_epoch", [], |r| r.get::<_, i64>(0)).unwrap();
    let moves = |what: &str, sql: &str| {
        let before = epoch();
        conn.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_ne!(epoch(), before, "{what} left the auth epoch where it was");
    };
    for (table, row) in [("api_keys", account.key.id), ("customers", account.customer.0)] {
        let columns: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(columns.len() > 5, "{table}: {columns:?}");
        for column in columns {
            moves(&format!("{table}.{column}"), &format!("UPDATE {table} SET {column} = {column} WHERE id = {row}"));
        }
    }
    let before = epoch();
    let other = server.customer("0").await;
    assert_ne!(epoch(), before, "a new customer and key left the auth epoch where it was");
    moves("deleting a key", &format!("DELETE FROM api_keys WHERE id = {}", other.key.id));
    moves(
        "deleting a customer",
        &format!("DELETE FROM wallets WHERE customer_id = {0}; DELETE FROM customers WHERE id = {0}", other.customer.0),
    );
}

/// A database without every epoch trigger (a rebuilt table loses its triggers) gets no key records
/// kept between requests: a store opened on it reads each key afresh, so a change the missing
/// trigger would have announced still reaches the next lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_without_every_epoch_trigger_keys_are_read_afresh() {
    let server = TestServer::start(Backend::Sqlite).await;
    let account = server.customer("0").await;
    let key = &account.key.api_key;
    server.db.execute_sql("DROP TRIGGER api_keys_update_moves_auth_epoch").await;
    let store = server.db.open(&Default::default()).await;
    let status = || async { store.auth_record(key).await.unwrap().expect("the key exists").key.status };
    assert_eq!(status().await, KeyStatus::Active);
    server.db.execute_sql(&format!("UPDATE api_keys SET status = 'revoked' WHERE api_key = '{key}'")).await;
    assert_eq!(status().await, KeyStatus::Revoked, "a kept record outlived the change");
}

async fn undecryptable_secret_is_an_auth_error(backend: Backend) {
    // The server runs with another master key than the one that sealed the secret.
    let options = ServerOptions { server_master_key: Some(MasterKey::generate()), ..Default::default() };
    let server = TestServer::start_with(backend, options).await;
    let account = server.customer("0").await;
    let response = account.signer().get("/api/v1/balance").send().await;
    let body = assert_error(&response, 500, "auth_error");
    assert!(!body.to_string().contains("key id"), "internal details are not leaked: {body}");
}

async fn unsigned_endpoints_answer_without_auth(backend: Backend) {
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::new();
    let health = http.get(format!("{}/healthz", server.base_url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(health.json::<serde_json::Value>().await.unwrap()["success"], true);
    let ready = http.get(format!("{}/readyz", server.base_url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let time: serde_json::Value =
        http.get(format!("{}/time", server.base_url)).send().await.unwrap().json().await.unwrap();
    assert!(time["iso"].as_str().unwrap().ends_with('Z'));
    assert!((time["epoch"].as_f64().unwrap() - now() as f64).abs() < 5.0);
    // A client-sent request id is echoed.
    let echoed =
        http.get(format!("{}/healthz", server.base_url)).header("X-Request-Id", "trace-abc-123").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-abc-123");
}

async fn unknown_routes_and_methods_use_the_envelope(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let signer = account.signer();
    assert_error(&signer.get("/api/v1/nothing").send().await, 404, "not_found");
    let wrong = signer.request("DELETE", "/api/v1/balance").send().await;
    assert_error(&wrong, 405, "method_not_allowed");
    assert_eq!(wrong.header("allow"), Some("GET, HEAD"), "a 405 says what is allowed");
    let wrong = signer.request("PUT", "/api/v1/orders").send().await;
    assert_error(&wrong, 405, "method_not_allowed");
    assert_eq!(wrong.header("allow"), Some("GET, HEAD, POST"));
    let wrong = signer.request("GET", "/api/v1/orders/BSAPI-ABC123DEF456/cancel").send().await;
    assert_eq!((wrong.status, wrong.header("allow")), (405, Some("POST")));
}

/// An address whose requests keep failing the key or signature check is turned away (429 with
/// Retry-After, in each dialect's envelope) before its key is looked up, whatever it sends next;
/// other addresses are served. Addresses come from `X-Forwarded-For` behind a trusted proxy.
async fn an_address_that_keeps_failing_authentication_is_turned_away(backend: Backend) {
    let config = kassa_server::ServerConfig {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        auth_failures_per_minute: 3,
        ..Default::default()
    };
    let server = TestServer::start_with(backend, ServerOptions { config, ..Default::default() }).await;
    let account = server.customer("0").await;
    let from = |address: &'static str| {
        let signer = account.signer();
        move || signer.get("/api/v1/balance").header("X-Forwarded-For", address)
    };
    let (guesser, neighbour) = (from("203.0.113.7"), from("203.0.113.8"));
    // Three failures are the allowance; the fourth is still answered, and spends it.
    for _ in 0..2 {
        assert_error(&guesser().secret("guessed").send().await, 401, "invalid_signature");
    }
    assert_error(&guesser().api_key("bs_live_nosuchkey").send().await, 401, "invalid_api_key");
    assert_error(&guesser().secret("guessed").send().await, 401, "invalid_signature");

    let turned_away = guesser().send().await;
    let body = assert_error(&turned_away, 429, "rate_limited");
    assert!(body["message"].as_str().unwrap().contains("failed authentication"), "{body}");
    let retry_after: u64 = turned_away.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=20).contains(&retry_after), "3/min allows one more failure every 20 s, got {retry_after}");
    let profile = account.profile().me().header("X-Forwarded-For", "203.0.113.7").send().await;
    assert_eq!(profile.status, 429, "the profile API turns it away too");

    assert_eq!(neighbour().send().await.status, 200, "other addresses are served");
    // Requests that never reach the key check (missing headers) cost nothing and do not count.
    for _ in 0..5 {
        let unsigned = from("203.0.113.9")().without("x-signature").send().await;
        assert_error(&unsigned, 401, "missing_auth_headers");
    }
    assert_eq!(from("203.0.113.9")().send().await.status, 200);
}
