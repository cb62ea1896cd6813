use std::time::Duration;

use anyhow::{bail, Result};
use indicatif::ProgressBar;
use kassa_store::Store;

use crate::output::emit;

/// Exits non-zero when the books do not balance, so scripts and monitors can alert on it.
pub async fn run(store: &dyn Store, json: bool) -> Result<()> {
    // The audit reads every wallet, order and ledger row (seconds per million orders); the
    // spinner draws on stderr only when it is a terminal.
    let progress = ProgressBar::new_spinner().with_message("checking every wallet, order and ledger entry");
    progress.enable_steady_tick(Duration::from_millis(120));
    let report = store.audit_books().await;
    progress.finish_and_clear();
    let report = report?;
    let value = serde_json::to_value(&report)?;
    let mut with_verdict = value.clone();
    with_verdict["balanced"] = serde_json::json!(report.is_balanced());
    emit(json, &with_verdict, || {
        if report.is_balanced() {
            format!(
                "books balance: {} wallets, {} orders, {} ledger entries",
                report.wallets, report.orders, report.ledger_entries
            )
        } else {
            format!("BOOKS DO NOT BALANCE:\n{}", serde_json::to_string_pretty(&value).unwrap_or_default())
        }
    });
    if !report.is_balanced() {
        bail!("the books do not balance");
    }
    Ok(())
}
