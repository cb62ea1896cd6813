//! The OpenAPI description: committed as generated, served with a docs page that renders
//! offline in a real browser, and a response check that can fail.

use std::process::Command;
use std::time::Duration;

use axum::http::{Method, StatusCode};

use crate::support::schema::Description;
use crate::support::{Backend, TestServer};

fn repo_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(name)
}

#[test]
fn committed_openapi_json_is_what_the_code_generates() {
    let committed = std::fs::read_to_string(repo_file("openapi.json")).expect("openapi.json at the repository root");
    let generated = kassa_server::api::openapi::json();
    if committed != generated {
        let line = committed.lines().zip(generated.lines()).position(|(a, b)| a != b).map_or(0, |n| n + 1);
        panic!(
            "openapi.json differs from what the code generates (first difference near line {line}); \
             regenerate it with `cargo run -- openapi > openapi.json` and commit it"
        );
    }
    let document: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/v1/balance",
        "/api/v1/services",
        "/api/v1/orders",
        "/api/v1/orders/{id}",
        "/profile/me",
        "/profile/edit",
        "/profile/verify",
        "/time",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} is not described");
    }
    let schemes = document["components"]["securitySchemes"].as_object().unwrap();
    for header in ["X-API-Key", "X-Timestamp", "X-Signature", "BB-ACCESS-KEY", "BB-ACCESS-SIGN", "BB-ACCESS-TIMESTAMP"]
    {
        assert_eq!(schemes[header]["in"], "header", "{header} is a header scheme");
    }
}

#[test]
fn the_response_check_catches_what_does_not_fit() {
    let description = Description::get();
    let json = "application/json";
    let check = |method: Method, path: &str, status: u16, body: serde_json::Value| {
        description.check(&method, path, StatusCode::from_u16(status).unwrap(), json, body.to_string().as_bytes())
    };
    let good_error = serde_json::json!({"success": false, "error": "order_not_found", "message": "m"});
    assert_eq!(check(Method::GET, "/api/v1/orders/BSAPI-ABC123DEF456", 404, good_error.clone()), Some(Ok(())));
    // A code this status does not list for this operation.
    let wrong_code = serde_json::json!({"success": false, "error": "missing_link", "message": "m"});
    assert!(matches!(check(Method::GET, "/api/v1/orders/BSAPI-ABC123DEF456", 404, wrong_code), Some(Err(_))));
    // A status the operation does not document.
    assert!(matches!(check(Method::GET, "/api/v1/balance", 402, good_error), Some(Err(_))));
    // A field of the wrong type, and a missing one.
    let bad_balance = serde_json::json!({"success": true, "balance": "12.50", "currency": "USD", "woo_customer_id": 1});
    assert!(matches!(check(Method::GET, "/api/v1/balance", 200, bad_balance), Some(Err(_))));
    let no_currency = serde_json::json!({"success": true, "balance": 12.5, "woo_customer_id": 1});
    assert!(matches!(check(Method::GET, "/api/v1/balance", 200, no_currency), Some(Err(_))));
    // An order status the wire does not have.
    let order = serde_json::json!({"success": true, "order": {"id": "BSAPI-X", "woo_order_number": 1, "status": "lost",
        "charge": 1, "currency": "USD", "service_id": 1, "quantity": 1, "link": "l", "client_order_ref": null}});
    assert!(matches!(check(Method::POST, "/api/v1/orders", 201, order), Some(Err(_))));
    // Not described: not checked.
    assert_eq!(check(Method::GET, "/api/v2/nothing", 404, serde_json::json!({})), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_a_session_is_checked() {
    let server = TestServer::start(Backend::Sqlite).await;
    let account = server.customer("1.00").await;
    let client = account.client();
    client.balance().await.unwrap();
    client.services().await.unwrap();
    assert_eq!(client.order("BSAPI-NOSUCHORDER1").await.unwrap_err().code(), Some("order_not_found"));
    client.profile_me().await.unwrap();
    assert_eq!(server.conformance.checked(), 4, "each described answer is checked once");
    server.conformance.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_its_description_and_docs_page() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let served: serde_json::Value =
        http.get(format!("{}/openapi.json", server.base_url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, serde_json::to_value(kassa_server::api::openapi::document()).unwrap());

    let page = http.get(format!("{}/docs/", server.base_url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    // Every asset is the server's own: relative URLs, nothing from a CDN.
    assert!(html.contains("swagger-ui-bundle.js") && !html.contains("://"), "{html}");
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-initializer.js"] {
        let response = http.get(format!("{}/docs/{asset}", server.base_url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 100, "{asset} has content");
    }
    let initializer = http
        .get(format!("{}/docs/swagger-initializer.js", server.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"), "the page reads this server's description: {initializer}");
}

/// The docs page in headless Chromium (Debian's `chromium`; `scripts/test.sh` installs it): the
/// rendered page lists the operations, and a screenshot is left in
/// `target/docs-screenshot.png` for people to look at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_in_headless_chromium() {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("a headless Chromium is needed for this test (scripts/test.sh installs Debian's chromium)");
    let server = TestServer::start(Backend::Sqlite).await;
    let url = format!("{}/docs/", server.base_url);
    let profile = tempfile::tempdir().unwrap();
    let screenshot = repo_file("target/docs-screenshot.png");
    let _ = std::fs::remove_file(&screenshot);
    let run = |extra: Vec<String>| {
        let mut command = Command::new(browser);
        command
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--virtual-time-budget=15000", "--window-size=1280,1600"])
            .args(extra)
            .arg(&url);
        command
    };
    let dom = tokio::task::spawn_blocking({
        let mut command = run(vec!["--dump-dom".into()]);
        move || command.output().expect("chromium runs")
    });
    let dom = tokio::time::timeout(Duration::from_secs(90), dom).await.expect("chromium finishes").unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for rendered in ["/api/v1/orders", "Create a wallet-paid order", "/profile/verify", "BuyShazam"] {
        assert!(dom.contains(rendered), "the rendered page shows {rendered:?}; got {} bytes of DOM", dom.len());
    }
    let shot = tokio::task::spawn_blocking({
        let mut command = run(vec![format!("--screenshot={}", screenshot.display())]);
        move || command.output().expect("chromium runs")
    });
    tokio::time::timeout(Duration::from_secs(90), shot).await.expect("chromium finishes").unwrap();
    let png = std::fs::read(&screenshot).expect("a screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000, "a real picture, {} bytes", png.len());
}
