//! `kassa api ...` end to end, as a script uses it: the real binary, `--json`, exit codes.

use std::process::{Command, Output};

use kassa_core::catalog::ServiceKind;
use serde_json::Value;

use crate::support::process::binary;
use crate::support::{Account, Backend, TestServer};

crate::backend_tests!(a_script_places_reads_and_lists_orders, people_get_tables_and_hints);

fn kassa_api(account: &Account, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("api")
        .args(args)
        .env("KASSA_BASE_URL", &account.base_url)
        .env("KASSA_API_KEY", &account.key.api_key)
        .env("KASSA_API_SECRET", &account.secret)
        .env("KASSA_LOG", "warn")
        .output()
        .expect("run kassa api")
}

/// `kassa api <args> --json`, which must succeed and print one JSON object.
fn json(account: &Account, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let output = kassa_api(account, &all);
    assert!(output.status.success(), "kassa api {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("kassa api {args:?}: {e}: {}", String::from_utf8_lossy(&output.stdout)))
}

async fn a_script_places_reads_and_lists_orders(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "0.45", 10, 10_000).await;
    let comments = server.service(ServiceKind::CustomComments, "2.00", 1, 100).await;
    let account = server.customer("20.00").await;
    let dir = tempfile::tempdir().unwrap();
    let service_id = service.id.to_string();

    let balance = json(&account, &["balance"]);
    assert_eq!((balance["balance"].as_f64(), balance["currency"].as_str()), (Some(20.0), Some("USD")));
    let services = json(&account, &["services", "--category", "test"]);
    assert_eq!(services["services"].as_array().map(Vec::len), Some(2));

    let created = json(
        &account,
        &[
            "order",
            "create",
            "--service",
            &service_id,
            "--quantity",
            "1000",
            "--link",
            "https://x.example/p",
            "--ref",
            "ref-1",
        ],
    );
    let id = created["order"]["id"].as_str().expect("an order id").to_string();
    assert_eq!((created["order"]["charge"].as_f64(), created["replayed"].as_bool()), (Some(0.45), Some(false)));
    // The same key again is a replay, not a second order.
    let key = created["idempotency_key"].as_str().unwrap().to_string();
    let replay = json(
        &account,
        &[
            "order",
            "create",
            "--service",
            &service_id,
            "--quantity",
            "1000",
            "--link",
            "https://x.example/p",
            "--ref",
            "ref-1",
            "--idempotency-key",
            &key,
        ],
    );
    assert_eq!((replay["order"]["id"].as_str(), replay["replayed"].as_bool()), (Some(id.as_str()), Some(true)));

    let file = dir.path().join("comments.txt");
    std::fs::write(&file, "Great post!\nAmazing content!\n").unwrap();
    let with_comments = json(
        &account,
        &[
            "order",
            "create",
            "--service",
            &comments.id.to_string(),
            "--quantity",
            "2",
            "--link",
            "https://x.example/q",
            "--comments-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(with_comments["order"]["quantity"].as_u64(), Some(2));

    let read = json(&account, &["order", "get", &id]);
    assert_eq!(
        (read["order"]["id"].as_str(), read["order"]["client_order_ref"].as_str(), read["order"]["status"].as_str()),
        (Some(id.as_str()), Some("ref-1"), Some("pending"))
    );
    let listed = json(&account, &["orders"]);
    assert_eq!(listed["total"].as_u64(), Some(2));
    assert!(listed["orders"].as_array().unwrap().iter().any(|o| o["id"].as_str() == Some(id.as_str())));

    // --all pages through everything.
    for n in 0..5 {
        let link = format!("https://x.example/{n}");
        json(&account, &["order", "create", "--service", &service_id, "--quantity", "10", "--link", &link]);
    }
    let all = json(&account, &["orders", "--all", "--limit", "2"]);
    let ids: std::collections::HashSet<&str> =
        all["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!((all["total"].as_u64(), ids.len()), (Some(7), 7));
    assert_eq!(json(&account, &["orders", "--status", "canceled"])["total"].as_u64(), Some(0));

    let me = json(&account, &["profile", "me"]);
    assert_eq!(me["response"]["id"].as_str(), Some(account.customer.0.to_string().as_str()));
    let edited = json(&account, &["profile", "edit", "--city", "Lviv"]);
    assert_eq!(edited["response"]["city"].as_str(), Some("Lviv"));
    let pdf = dir.path().join("passport.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n% a test document\n").unwrap();
    let verification = json(
        &account,
        &[
            "profile",
            "verify",
            "--type",
            "passport",
            "--first-name",
            "Ada",
            "--gender",
            "2",
            "--id-number",
            "AB1",
            "--document1",
            pdf.to_str().unwrap(),
        ],
    );
    assert_eq!(
        (verification["response"]["status"].as_str(), verification["response"]["document1"].as_str()),
        (Some("in_process"), Some("pdf"))
    );

    // An error answer: non-zero exit, the error body on stdout for the script.
    let output = kassa_api(
        &account,
        &["order", "create", "--service", "999999", "--quantity", "10", "--link", "https://x.example/p", "--json"],
    );
    assert!(!output.status.success());
    let body: Value = serde_json::from_slice(&output.stdout).expect("the error body");
    assert_eq!((body["success"].as_bool(), body["error"].as_str()), (Some(false), Some("service_not_found")));
}

async fn people_get_tables_and_hints(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 10, 10_000).await;
    let account = server.customer("0.10").await;

    let output = kassa_api(&account, &["services"]);
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("per 1000") && table.contains("1 USD") && table.contains("10000"), "{table}");

    let output = kassa_api(
        &account,
        &[
            "order",
            "create",
            "--service",
            &service.id.to_string(),
            "--quantity",
            "1000",
            "--link",
            "https://x.example/p",
        ],
    );
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("insufficient_wallet_balance (HTTP 402)"), "{said}");
    assert!(
        said.contains("balance: 0.10 USD, required: 1.00 USD") && said.contains("hint: top up the wallet"),
        "{said}"
    );

    let mut no_secret = Command::new(binary());
    no_secret.args(["api", "balance"]).env_remove("KASSA_API_KEY").env_remove("KASSA_API_SECRET");
    let output = no_secret.output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("KASSA_API_SECRET"));
}
