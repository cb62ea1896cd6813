//! The crash test: order load against the real binary, `kill -9` at random moments, restart,
//! and after every restart the books must hold:
//!
//! * every order whose 201 a client saw exists, with its charge;
//! * no order without exactly one debit and no debit without an order; every balance equals the
//!   sum of its ledger (`kassa admin books`);
//! * a request that got no answer, retried with its idempotency key after the restart, either
//!   replays the order it did create or creates it now — exactly once: the database holds exactly
//!   one order per key that ever got a 201, and none for keys that never did.
//!
//! `KASSA_CRASH_CYCLES` sets the number of kills (default 20); the figures are printed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rand::Rng;
use serde_json::json;

use crate::support::process::{KassaEnv, Seeded};
use crate::support::raw::Signer;
use crate::support::{Backend, TestDb};

crate::backend_tests!(kill_nine_at_random_moments_loses_nothing_and_charges_nothing_twice);

#[derive(Debug, Clone)]
enum Seen {
    Created(String, bool),
    Refused,
    /// No answer (the server died) or an answer that says nothing about the outcome.
    Unknown,
}

struct Request {
    account: usize,
    body: serde_json::Value,
}

async fn send(signer: &Signer, key: &str, body: &serde_json::Value) -> Seen {
    match signer.order(body, key).try_send().await {
        Ok(response) if response.status == 201 => {
            Seen::Created(response.json().unwrap()["order"]["id"].as_str().unwrap().to_string(), response.replayed())
        }
        Ok(response)
            if response.status == 402
                || response.status == 409 && response.json().unwrap()["error"] == "duplicate_order" =>
        {
            Seen::Refused
        }
        _ => Seen::Unknown,
    }
}

async fn kill_nine_at_random_moments_loses_nothing_and_charges_nothing_twice(backend: Backend) {
    let cycles: usize = std::env::var("KASSA_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let accounts: Vec<Seeded> = (0..2).map(|_| env.seed("20000.00", "1.00", 1_000_000)).collect();

    let mut requests: HashMap<String, Request> = HashMap::new();
    let mut created: HashMap<String, String> = HashMap::new(); // key → order id
    let mut unknown: HashSet<String> = HashSet::new();
    let mut next = 0usize;
    let mut server = env.serve(&["--no-worker"]);
    let mut checked_orders = 0usize;
    let (mut replayed_retries, mut fresh_retries) = (0usize, 0usize);
    let mut verified: HashSet<String> = HashSet::new();

    for cycle in 0..cycles {
        // Load: 16 clients placing orders until the server dies under them.
        let signers: Vec<Signer> = accounts.iter().map(|a| a.signer(&server.base_url)).collect();
        let mut tasks = Vec::new();
        for client in 0..16 {
            let account = client % accounts.len();
            let signer = signers[account].clone();
            let service = accounts[account].service;
            let first = next;
            next += 1000;
            tasks.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                for n in first..first + 1000 {
                    let key = format!("crash-{n}");
                    let body = json!({"service_id": service, "quantity": 1000, "link": format!("https://x/{key}")});
                    let outcome = send(&signer, &key, &body).await;
                    let stop = matches!(outcome, Seen::Unknown);
                    seen.push((key, account, body, outcome));
                    if stop {
                        break;
                    }
                }
                seen
            }));
        }
        let delay = rand::thread_rng().gen_range(50..400);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill();
        for task in tasks {
            for (key, account, body, outcome) in task.await.unwrap() {
                match &outcome {
                    Seen::Created(id, _) => {
                        created.insert(key.clone(), id.clone());
                    }
                    Seen::Unknown => {
                        unknown.insert(key.clone());
                    }
                    Seen::Refused => {}
                }
                requests.insert(key, Request { account, body });
            }
        }

        server = env.serve(&["--no-worker"]);
        // Every acknowledged order is there (each checked once after the crash that followed it;
        // the books check below covers all of them every cycle).
        let clients: Vec<_> = accounts.iter().map(|a| a.client(&server.base_url)).collect();
        for (key, id) in created.iter().filter(|(key, _)| !verified.contains(*key)) {
            let account = requests[key].account;
            let order = clients[account]
                .order(id)
                .await
                .unwrap_or_else(|e| panic!("cycle {cycle}: acknowledged order {id} lost: {e}"));
            assert_eq!(order.charge.to_string(), "1.00");
            checked_orders += 1;
        }
        verified.extend(created.keys().cloned());
        // Requests that got no answer are retried with their key: a replay or a first creation.
        let signers: Vec<Signer> = accounts.iter().map(|a| a.signer(&server.base_url)).collect();
        for key in std::mem::take(&mut unknown) {
            let request = &requests[&key];
            match send(&signers[request.account], &key, &request.body).await {
                Seen::Created(id, replayed) => {
                    if replayed {
                        replayed_retries += 1;
                    } else {
                        fresh_retries += 1;
                    }
                    created.insert(key, id);
                }
                Seen::Refused => {}
                Seen::Unknown => panic!("cycle {cycle}: retry of {key} got no usable answer from a running server"),
            }
        }
        let books = env.json(&["admin", "books"]);
        assert_eq!(books["balanced"], true, "cycle {cycle}: {books}");
        assert_eq!(
            books["orders"].as_u64(),
            Some(created.len() as u64),
            "cycle {cycle}: one order per key that got a 201, none for the others"
        );
    }
    let ids: HashSet<&String> = created.values().collect();
    assert_eq!(ids.len(), created.len(), "no two keys share an order");
    assert!(created.len() > cycles, "the load placed orders: {}", created.len());
    println!(
        "crash test ({backend:?}): {cycles} kill -9 cycles survived, {} orders placed, {} requests sent, \
         {checked_orders} acknowledged-order checks; unanswered requests retried after restarts: \
         {replayed_retries} had committed (replayed), {fresh_retries} had not (created once now); \
         books balanced after every restart",
        created.len(),
        requests.len()
    );
    drop(server);
}
