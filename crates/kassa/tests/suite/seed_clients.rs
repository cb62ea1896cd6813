//! The seed's own client code, run against kassa with only the base URL, key, secret and ids
//! substituted (see `tests/seed-clients/README.md`).

use std::path::{Path, PathBuf};
use std::process::Command;

use kassa_core::catalog::ServiceKind;

use crate::support::{Account, Backend, TestServer};

crate::backend_tests!(
    python_example_creates_an_order,
    rust_example_creates_an_order,
    curl_examples_read_back,
    java_example_creates_an_order,
    python_profile_example_reads_edits_and_verifies
);

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/seed-clients")
}

fn seed_file(name: &str) -> String {
    std::fs::read_to_string(seed_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The seed's placeholders replaced by this test's server and account.
fn substitute(code: &str, account: &Account, service_id: i64) -> String {
    code.replace("https://auto.buyshazam.com", &account.base_url)
        .replace("bs_live_xxx", &account.key.api_key)
        .replace("your_api_secret", &account.secret)
        .replace("\"service_id\": 123", &format!("\"service_id\": {service_id}"))
        .replace("'service_id' => 123", &format!("'service_id' => {service_id}"))
        .replace("\\\"service_id\\\":123", &format!("\\\"service_id\\\":{service_id}"))
}

async fn setup(backend: Backend) -> (TestServer, Account, i64) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "0.45", 10, 10_000).await;
    let account = server.customer("10.00").await;
    (server, account, service.id)
}

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The one order the seed's example placed, read back through the API.
async fn assert_seed_order_placed(server: &TestServer, account: &Account) {
    let orders = account.client().orders(1, 10, None).await.unwrap();
    assert_eq!(orders.total, 1, "the example placed exactly one order");
    let order = &orders.orders[0];
    assert_eq!(
        (order.quantity, order.client_order_ref.as_deref(), order.charge.to_string()),
        (1000, Some("your-order-10001"), "0.45".into())
    );
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 955);
}

async fn python_example_creates_an_order(backend: Backend) {
    let (server, account, service) = setup(backend).await;
    let code = substitute(&seed_file("create_order.py"), &account, service);
    let (ok, stdout, stderr) = run(Command::new("python3").arg("-c").arg(&code));
    assert!(ok, "python3 failed (is `requests` installed?): {stderr}");
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("201"), "{stdout}");
    assert!(lines.next().is_some_and(|l| l.contains("'success': True") && l.contains("BSAPI-")), "{stdout}");
    assert_seed_order_placed(&server, &account).await;
}

/// The seed's Rust example, built by `cargo test` as an example of this crate.
fn rust_example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/suite-*");
    profile_dir.join("examples").join("seed_create_order")
}

async fn rust_example_creates_an_order(backend: Backend) {
    // The compiled example differs from the seed only in the lines that read the substituted
    // values from the environment.
    let seed = seed_file("create_order.rs");
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed_create_order.rs")).unwrap();
    let differing: Vec<_> = example.lines().filter(|l| !seed.lines().any(|s| s == *l)).collect();
    assert_eq!(differing.len(), 4, "only base URL, key, secret and service id differ: {differing:#?}");
    assert!(differing.iter().all(|l| l.contains("std::env::var(\"KASSA_")), "{differing:#?}");

    let (server, account, service) = setup(backend).await;
    let binary = rust_example_binary();
    assert!(binary.exists(), "{} is built by `cargo test`/`cargo nextest`", binary.display());
    let (ok, stdout, stderr) = run(Command::new(&binary)
        .env("KASSA_BASE_URL", &account.base_url)
        .env("KASSA_API_KEY", &account.key.api_key)
        .env("KASSA_API_SECRET", &account.secret)
        .env("KASSA_SERVICE_ID", service.to_string()));
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("201 Created"), "{stdout}");
    assert!(stdout.contains(r#""success":true"#), "{stdout}");
    assert_seed_order_placed(&server, &account).await;
}

/// `sha256=` + the signature, computed with openssl, independently of kassa's code.
fn openssl_signature(secret: &str, path: &str, timestamp: &str) -> String {
    let script = format!(
        "body_hash=$(printf '' | openssl dgst -sha256 -r | cut -d' ' -f1); \
         printf 'GET\\n%s\\n%s\\n%s' '{path}' '{timestamp}' \"$body_hash\" | openssl dgst -sha256 -hmac \"$SECRET\" -r | cut -d' ' -f1"
    );
    let (ok, stdout, stderr) = run(Command::new("sh").arg("-c").arg(script).env("SECRET", secret));
    assert!(ok, "openssl failed: {stderr}");
    stdout.trim().to_string()
}

async fn curl_examples_read_back(backend: Backend) {
    let (_server, account, service) = setup(backend).await;
    let placed = account.place(service, 100).await;
    let examples = seed_file("curl_examples.sh");
    let commands: Vec<String> = examples
        .split('\n')
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .split("curl ")
        .filter(|c| !c.trim().is_empty())
        .map(|c| format!("curl -s {}", c.trim()))
        .collect();
    assert_eq!(commands.len(), 3);
    for command in commands {
        let command = command.replace("BSAPI-ABC123DEF456", &placed.order.id);
        let path = command.split('"').nth(1).unwrap().replace("https://auto.buyshazam.com", "");
        let timestamp = crate::support::raw::now().to_string();
        let signature = openssl_signature(&account.secret, &path, &timestamp);
        let command = substitute(&command, &account, service)
            .replace("1710000000", &timestamp)
            .replace("<hmac_sha256>", &signature);
        let (ok, stdout, stderr) = run(Command::new("sh").arg("-c").arg(&command));
        assert!(ok, "{command}: {stderr}");
        let body: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{command}: {stdout}"));
        assert_eq!(body["success"], true, "{path}: {body}");
    }
}

async fn java_example_creates_an_order(backend: Backend) {
    let (server, account, service) = setup(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("BuyShazamCreateOrder.java");
    std::fs::write(&file, substitute(&seed_file("BuyShazamCreateOrder.java"), &account, service)).unwrap();
    let (ok, stdout, stderr) = run(Command::new("java").arg(&file));
    assert!(ok, "java failed (a JDK 11+ runs single-file sources): {stderr}");
    assert!(stdout.starts_with("201"), "{stdout}");
    assert_seed_order_placed(&server, &account).await;
}

/// The profile seed's Python example (ported to Python 3, see the README): its lower-cased
/// method, decimal timestamp and base64-decoded secret pass on all three methods.
async fn python_profile_example_reads_edits_and_verifies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let code = seed_file("profile_auth.py")
        .replace("api_url = ''", &format!("api_url = '{}/'", account.base_url))
        .replace("'your_api_key'", &format!("'{}'", account.key.api_key))
        .replace("'your_api_secret'", &format!("'{}'", account.secret));
    let (ok, stdout, stderr) = run(Command::new("python3").arg("-c").arg(&code));
    assert!(ok, "python3 failed (is `requests` installed?): {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let user_id = server.store.customer(account.customer).await.unwrap().unwrap().user_id;
    assert!(lines[0].starts_with("{'success': True, 'response': {'id': '"), "profile/me: {}", lines[0]);
    assert!(
        lines[0].contains(&format!("'user_id': '{user_id}'")) && lines[0].contains("'verified': '0'"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("'success': True") && lines[1].contains("'username': 'Test Username'"), "{}", lines[1]);
    assert!(lines[2].contains("'status': 'in_process'") && lines[2].contains("'document1': 'png'"), "{}", lines[2]);

    let customer = server.store.customer(account.customer).await.unwrap().unwrap();
    assert_eq!(customer.first_name.as_deref(), Some("Test First Name"));
    let filed = server.store.latest_verification(account.customer).await.unwrap().expect("a verification");
    assert_eq!(filed.documents.len(), 1);
    assert_eq!(filed.documents[0].kind, kassa_store::DocumentType::Png);
}
