//! Hostile clients: replayed signed requests, enormous headers and bodies, slow-loris
//! connections and bursts far over the rate limit. Each test also checks that a well-behaved
//! client is still served promptly.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use kassa_core::catalog::ServiceKind;
use serde_json::json;

use crate::support::raw::{now, seed_signature};
use crate::support::{assert_error, Account, Backend, KeyOptions, ServerOptions, TestServer};

crate::backend_tests!(
    a_replayed_signed_order_request_places_no_second_order,
    enormous_headers_and_bodies_are_refused,
    slow_loris_connections_are_cut_and_others_served,
    a_burst_of_ten_times_the_limit_leaves_other_keys_served,
);

/// Latencies of `n` balance requests of a well-behaved client, sorted.
async fn probe(account: &Account, n: usize) -> Vec<Duration> {
    let signer = account.signer();
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = signer.get("/api/v1/balance").send().await;
        assert_eq!(response.status, 200, "the well-behaved client is served");
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies
}

/// One signed order request, captured on the wire: sent again with the same timestamp and
/// signature, under whatever idempotency key.
struct Captured<'a> {
    account: &'a Account,
    body: Vec<u8>,
    timestamp: String,
    signature: String,
}

impl<'a> Captured<'a> {
    fn new(account: &'a Account, body: &[u8]) -> Self {
        let timestamp = now().to_string();
        let signature =
            format!("sha256={}", seed_signature(&account.secret, "POST", "/api/v1/orders", &timestamp, body));
        Self { account, body: body.to_vec(), timestamp, signature }
    }

    async fn send(&self, key: &str) -> kassa_client::RawResponse {
        let request = self.account.signer().request("POST", "/api/v1/orders").body(self.body.clone());
        request.timestamp(&self.timestamp).signature(&self.signature).header("X-Idempotency-Key", key).send().await
    }
}

fn p99(latencies: &[Duration]) -> Duration {
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

async fn a_replayed_signed_order_request_places_no_second_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let service = server.service(ServiceKind::Default, "1.00", 1, 10_000).await;
    let account = server.customer("10.00").await;
    let body = json!({"service_id": service.id, "quantity": 1000, "link": "https://x"});
    let bytes = serde_json::to_vec(&body).unwrap();
    let captured = Captured::new(&account, &bytes);
    let send = |key: &'static str| captured.send(key);
    let first = send("original").await;
    assert_eq!(first.status, 201);
    let replay = send("original").await;
    assert_eq!(
        (replay.status, replay.header("idempotent-replayed")),
        (201, Some("true")),
        "an exact replay is the replay"
    );
    assert_eq!(replay.body, first.body);
    // The idempotency key is not covered by the signature: a replay under a new key is refused.
    let error = assert_error(&send("attacker-chosen").await, 409, "duplicate_order");
    assert_eq!(error["details"]["X-Signature"], "already used");
    assert_eq!(server.store.wallet(account.customer).await.unwrap().balance.0, 900, "charged once");
    assert_eq!(account.client().orders(1, 10, None).await.unwrap().total, 1);
    // A legitimate retry signs again and carries its original key: still the replay.
    let retry = account.signer().order(&body, "original").send().await;
    assert_eq!((retry.status, retry.header("idempotent-replayed")), (201, Some("true")));

    // A signed request that placed nothing (too little money) leaves no order to hold its
    // signature; captured and resent under a new key once the wallet is topped up, it is refused.
    let poor = server.customer("0.50").await;
    let captured = Captured::new(&poor, &bytes);
    let send = |key: &'static str| captured.send(key);
    assert_error(&send("short").await, 402, "insufficient_wallet_balance");
    server.credit(poor.customer, kassa_core::Minor(1_000)).await;
    let error = assert_error(&send("attacker-chosen").await, 409, "duplicate_order");
    assert_eq!(error["details"]["X-Signature"], "already used");
    assert_eq!(poor.client().orders(1, 10, None).await.unwrap().total, 0, "nothing placed");
    // Its sender, resending the very request under its own key, is answered as before.
    assert_eq!(send("short").await.status, 201, "the same request, now covered, places its order");
}

async fn enormous_headers_and_bodies_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("1.00").await;
    // A 256 KiB header: refused before any handler runs.
    let huge = "a".repeat(256 * 1024);
    let client = reqwest::Client::new();
    let answer = client.get(format!("{}/api/v1/balance", server.base_url)).header("X-Padding", &huge).send().await;
    match answer {
        Ok(response) => assert_eq!(response.status().as_u16(), 431, "request head too large"),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "the connection may simply be closed: {e}"),
    }
    // Just over the 64 KiB limit: 413 in the envelope.
    let over = vec![b'x'; 70 * 1024];
    let response =
        account.signer().request("POST", "/api/v1/orders").body(over).header("X-Idempotency-Key", "big").send().await;
    assert_error(&response, 413, "payload_too_large");
    // 20 MiB: refused without being read — the answer is 413, or the connection is closed while
    // the client is still sending.
    let body = vec![b'x'; 20 * 1024 * 1024];
    let started = Instant::now();
    match account
        .signer()
        .request("POST", "/api/v1/orders")
        .body(body)
        .header("X-Idempotency-Key", "bigger")
        .try_send()
        .await
    {
        Ok(response) => {
            assert_error(&response, 413, "payload_too_large");
        }
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let latencies = probe(&account, 20).await;
    assert!(p99(&latencies) < Duration::from_millis(500), "{latencies:?}");
}

async fn slow_loris_connections_are_cut_and_others_served(backend: Backend) {
    let mut options = ServerOptions::default();
    options.config.header_read_timeout = Duration::from_secs(1);
    let server = TestServer::start_with(backend, options).await;
    let account = server.customer("1.00").await;
    let addr = server.addr;
    // 200 connections that start a request and then dribble a byte now and then.
    let loris: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = stream.write_all(b"GET /api/v1/balance HTTP/1.1\r\nHost: kassa\r\n");
                let started = Instant::now();
                for _ in 0..20 {
                    std::thread::sleep(Duration::from_millis(200));
                    if stream.write_all(b"X-Slow: a\r\n").is_err() {
                        break;
                    }
                }
                // The server must have answered (408) or closed the connection by now.
                let mut buffer = [0u8; 256];
                let read = stream.read(&mut buffer).unwrap_or(0);
                (started.elapsed(), String::from_utf8_lossy(&buffer[..read]).to_string())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let latencies = probe(&account, 50).await;
    assert!(p99(&latencies) < Duration::from_millis(500), "served during the attack: {latencies:?}");
    for handle in loris {
        let (lasted, answer) = handle.join().unwrap();
        assert!(lasted < Duration::from_secs(5), "the slow connection was cut after {lasted:?}");
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    }
}

async fn a_burst_of_ten_times_the_limit_leaves_other_keys_served(backend: Backend) {
    let server = TestServer::start(backend).await;
    let attacker = server.customer_with("0", KeyOptions { rate_limit_per_minute: 60, ..Default::default() }).await;
    let neighbour = server.customer("0").await;
    let signer = attacker.signer();
    let burst: Vec<_> = (0..600)
        .map(|_| {
            let signer = signer.clone();
            tokio::spawn(async move { signer.get("/api/v1/balance").send().await.status })
        })
        .collect();
    let latencies = probe(&neighbour, 50).await;
    let mut limited = 0;
    for task in burst {
        if task.await.unwrap() == 429 {
            limited += 1;
        }
    }
    assert!(limited >= 530, "the burst was limited: {limited} of 600 refused");
    assert!(p99(&latencies) < Duration::from_secs(1), "the neighbour stays served: {latencies:?}");
}
