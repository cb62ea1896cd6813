//! Secrets, signatures, document bytes and personal data never reach the logs, even at the most
//! verbose level: every flow that handles them runs with `trace` logging captured, and the
//! capture is searched for each of them.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::fulfilment::{eventually, quick_simulator, quick_webhooks, quick_worker};
use crate::support::process::KassaEnv;
use crate::support::profile::{b64, png, ProfileSigner};
use crate::support::raw::{now, seed_signature};
use crate::support::receiver::Receiver;
use crate::support::{Backend, ServerOptions, TestDb, TestServer};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What must never be logged, found by name in a log text.
fn leaks(log: &str, secrets: &[(&str, String)]) -> Vec<String> {
    secrets
        .iter()
        .filter(|(_, value)| !value.is_empty() && log.contains(value.as_str()))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Drives every flow that handles a secret against `base_url`; returns what must not be logged.
async fn exercise(server: &TestServer) -> Vec<(&'static str, String)> {
    let account = server.customer("10.00").await;
    let service = server.service(kassa_core::catalog::ServiceKind::Default, "1.00", 1, 100_000).await;
    let signer = account.signer();
    // A signed order, a bad signature, and a profile edit and verification with a document.
    let body =
        serde_json::to_vec(&json!({"service_id": service.id, "quantity": 1000, "link": "https://x/logs"})).unwrap();
    let timestamp = now().to_string();
    let signature = seed_signature(&account.secret, "POST", "/api/v1/orders", &timestamp, &body);
    let placed = signer
        .request("POST", "/api/v1/orders")
        .body(body)
        .timestamp(&timestamp)
        .signature(&format!("sha256={signature}"))
        .header("X-Idempotency-Key", "logs-1")
        .send()
        .await;
    assert_eq!(placed.status, 201);
    let wrong = seed_signature("not the secret", "GET", "/api/v1/balance", &timestamp, b"");
    assert_eq!(signer.get("/api/v1/balance").timestamp(&timestamp).signature(&wrong).send().await.status, 401);
    let profile = ProfileSigner::new(&server.base_url, &account.key.api_key, &account.secret);
    let email = format!("private-{}@example.com", kassa_core::ids::random_token(b"abcdefgh", 12));
    assert_eq!(profile.edit(&json!({"email": email, "phone": "380637312675"})).send().await.status, 200);
    let marker = format!("DOCUMENT-MARKER-{}", kassa_core::ids::random_token(b"ABCDEFGH", 16));
    let document = png(marker.repeat(50).as_bytes());
    let id_number = format!("ID{}", kassa_core::ids::random_token(b"0123456789", 18));
    let verify = json!({"verify_type": "passport", "first_name": "Ada", "gender": 2, "id_number": id_number, "document1": b64(&document)});
    assert_eq!(profile.verify(&verify).send().await.status, 200);
    // A webhook delivery and a provider with a key.
    let receiver = Receiver::start(&[], 200).await;
    let hook = signer.post("/api/v1/webhooks", &json!({"url": receiver.url})).send().await.json().unwrap();
    let webhook_secret = hook["webhook"]["secret"].as_str().unwrap().to_string();
    let sim = quick_simulator().await;
    let provided = server.simulated_service(&sim, "1", "1.00").await;
    let worker = server.worker(quick_worker());
    let dispatcher = server.webhook_dispatcher(quick_webhooks(&[0]));
    let order = account
        .signer()
        .order(&json!({"service_id": provided.id, "quantity": 100, "link": "https://x/sim"}), "logs-2")
        .send()
        .await;
    assert_eq!(order.status, 201);
    eventually(Duration::from_secs(10), "a webhook delivery", || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    worker.stop().await;
    dispatcher.stop().await;

    let b64_document = b64(&document);
    vec![
        ("API secret", account.secret.clone()),
        ("order signature", signature),
        ("rejected signature", wrong),
        ("master key", server.master_key.to_hex()),
        ("document bytes", marker),
        ("document base64", b64_document[64..128].to_string()),
        ("id number", id_number),
        ("email", email),
        ("phone", "380637312675".into()),
        ("webhook secret", webhook_secret),
        ("provider key", crate::support::fulfilment::SIM_KEY.into()),
    ]
}

/// In-process servers on both stores, with every event at `trace` through the same filter the
/// binary uses. Runs in its own process under nextest, so the global subscriber is this test's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_every_flow_carry_no_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_env_filter(kassa_server::logging::filter(Some("trace")))
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("this test owns the process's logs (run it under cargo nextest, as scripts/test.sh does)");
    let mut secrets = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let mut options = ServerOptions::default();
        options.config.webhook_allow_private = true;
        let server = TestServer::start_with(backend, options).await;
        secrets.extend(exercise(&server).await);
    }
    let log = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("request") && log.lines().count() > 20,
        "the capture works: {} lines\n{log}",
        log.lines().count()
    );
    assert_eq!(leaks(&log, &secrets), Vec::<String>::new(), "secrets found in the logs");
}

/// The real binary at `KASSA_LOG=trace`, for its own start-up, admin commands and requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_at_trace_level_logs_no_secret() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut env = KassaEnv::for_db(&db);
    env.extra_env.push(("KASSA_LOG".into(), "trace".into()));
    let seeded = env.seed("10.00", "1.00", 100_000);
    let log = db.dir.path().join("kassa.log");
    let node = env.serve_logged(&["--no-worker"], &log);
    let signer = seeded.signer(&node.base_url);
    let body = json!({"service_id": seeded.service, "quantity": 1000, "link": "https://x/binary"});
    assert_eq!(signer.order(&body, "bin-1").send().await.status, 201);
    assert_eq!(signer.get("/api/v1/balance").secret("wrong").send().await.status, 401);
    let master_key = std::fs::read_to_string(db.dir.path().join("data/master.key")).unwrap().trim().to_string();
    drop(node);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("request"), "trace logging is on: {text}");
    let secrets = [("API secret", seeded.secret.clone()), ("master key", master_key)];
    assert_eq!(leaks(&text, &secrets), Vec::<String>::new());
}
