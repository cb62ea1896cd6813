//! Schema-driven API fuzzing: schemathesis (from PyPI) generates requests from `openapi.json`,
//! valid and invalid, signs them like a client (`tests/schemathesis/hooks.py`) and checks every
//! answer: no 5xx, a documented status, a body and headers that match the description, invalid
//! input refused, missing required headers refused, undocumented methods refused. On top, this
//! server's own response check (`support::schema`) sees every answer too.
//!
//! CI runs `KASSA_SCHEMATHESIS_EXAMPLES` (default 40) examples per operation, over a thousand
//! requests; `scripts/schemathesis.sh` runs longer against a `kassa serve`.

use std::process::Command;

use kassa_core::catalog::ServiceKind;

use crate::support::{Backend, KeyOptions, TestServer};

crate::backend_tests!(generated_requests_get_documented_answers);

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

async fn generated_requests_get_documented_answers(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.service(ServiceKind::Default, "0.45", 10, 10_000).await;
    server.service(ServiceKind::CustomComments, "2.00", 1, 100).await;
    let account =
        server.customer_with("100000.00", KeyOptions { rate_limit_per_minute: 10_000_000, ..Default::default() }).await;
    let examples = std::env::var("KASSA_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "40".into());
    let scratch = tempfile::tempdir().unwrap();
    let repo = repo();
    let run = tokio::task::spawn_blocking({
        let base_url = server.base_url.clone();
        let (key, secret) = (account.key.api_key.clone(), account.secret.clone());
        let openapi = repo.join("openapi.json");
        let hooks = repo.join("tests/schemathesis");
        let cwd = scratch.path().to_path_buf();
        move || {
            Command::new("st")
                .args(["--config-file", hooks.join("schemathesis.toml").to_str().unwrap()])
                .args(["run", openapi.to_str().unwrap(), "--url", &base_url])
                .args(["--checks", "all", "--exclude-checks", "ignored_auth,positive_data_acceptance"])
                .args(["--max-examples", &examples, "--no-color"])
                .env("SCHEMATHESIS_HOOKS", "hooks")
                .env("PYTHONPATH", hooks)
                .env("KASSA_API_KEY", key)
                .env("KASSA_API_SECRET", secret)
                // Hypothesis keeps its example database in the working directory.
                .current_dir(cwd)
                .output()
                .expect("schemathesis' `st` is needed (scripts/test.sh installs it from PyPI)")
        }
    });
    let output = run.await.unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let generated: u64 = report
        .lines()
        .find_map(|line| line.trim().split_once(" generated, ").and_then(|(n, _)| n.parse().ok()))
        .unwrap_or_else(|| panic!("no count of generated cases in:\n{report}"));
    println!("schemathesis: {generated} generated cases passed on {backend:?}");
    assert!(generated >= 1000, "at least 1,000 generated requests per run, got {generated}:\n{report}");
    assert!(server.conformance.checked() >= 500, "the server's own check saw {} answers", server.conformance.checked());
}
