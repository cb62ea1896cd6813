//! The benchmark harness, in the short form CI affords: a few seconds of each order scenario
//! against a real `kassa serve`, with the books checked afterwards. The real figures come from
//! `scripts/bench.sh` (BENCHMARKS.md).

use serde_json::{json, Value};

use crate::support::process::KassaEnv;
use crate::support::{Backend, TestDb};

crate::backend_tests!(a_short_benchmark_balances_its_books);

async fn a_short_benchmark_balances_its_books(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let mut command = env.command();
    command.args(["bench", "--scenario", "orders,mixed,balance", "--duration", "1.5", "--warmup", "0.5"]);
    command.args(["--concurrency", "8", "--wallets", "10", "--preload", "200"]);
    let output = command.output().expect("run kassa bench");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kassa bench failed:\n{said}");
    let runs: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let runs = runs.as_array().expect("one report per scenario");
    assert_eq!(runs.len(), 3);
    for run in runs {
        let result = &run["result"];
        let scenario = run["scenario"].as_str().unwrap();
        assert!(result["requests"].as_u64().unwrap() > 0, "{scenario} sent requests");
        assert_eq!(result["transport_errors"], 0, "{scenario}");
        let statuses = result["statuses"].as_object().unwrap();
        assert!(statuses.keys().all(|s| s.starts_with('2')), "{scenario}: only successes: {statuses:?}");
        assert!(result["latency_us"]["p99"].as_u64().unwrap() >= result["latency_us"]["p50"].as_u64().unwrap());
        assert!(run["server_rss_mib"]["high_water_mark"].as_f64().unwrap() > 1.0);
        for side in ["server", "load_generator"] {
            let cpu = run["cpu_us_per_request"][side].as_f64();
            assert!(cpu.is_some_and(|us| us > 0.0), "{scenario}: {side} CPU per request {cpu:?}");
        }
        assert!(run["machine"]["nproc"].as_u64().unwrap() >= 1);
        if scenario == "balance" {
            assert!(run["books"].is_null());
        } else {
            let books = &run["books"];
            assert_eq!(books["ok"], true, "{scenario}: {books}");
            assert!(books["answered_created"].as_u64().unwrap() > 0);
            assert_eq!(books["answered_created"], books["orders_in_database"]);
            assert_eq!((&books["duplicate_ids"], &books["missing_ids"]), (&json!(0), &json!(0)), "{books}");
            assert_eq!(books["charged"], books["debited"]);
        }
    }
    assert_eq!(runs[0]["orders_in_table"], 200, "the preloaded orders were there before the first run");
    assert!(said.contains("books:"), "progress and the books' verdict go to stderr:\n{said}");
    assert!(said.contains("CPU per request: server"), "and the CPU per request:\n{said}");
}
