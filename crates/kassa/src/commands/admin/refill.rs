//! `kassa admin refill ...`: customers' refill requests, and closing those an operator handled.

use anyhow::{bail, Result};
use kassa_store::{present, RefillFilter, RefillRecord, Store, REFILL_STATUSES};
use serde_json::json;

use crate::cli::RefillCommand;
use crate::output::emit;

fn refill(r: &RefillRecord) -> serde_json::Value {
    json!({
        "id": r.id,
        "order_id": r.order_id,
        "provider_refill_id": r.provider_refill_id,
        "status": r.status,
        "created_at": present::rfc3339(r.created_at),
    })
}

fn line(r: &RefillRecord) -> String {
    format!(
        "{:>6}  {}  {:<10} provider refill {}  {}",
        r.id,
        r.order_id,
        r.status,
        r.provider_refill_id.as_deref().unwrap_or("-"),
        present::rfc3339(r.created_at)
    )
}

pub async fn run(store: &dyn Store, command: RefillCommand) -> Result<()> {
    match command {
        RefillCommand::List { status, order, limit, json } => {
            if let Some(status) = status.as_deref().filter(|s| !REFILL_STATUSES.contains(s)) {
                bail!("unknown refill status {status:?}; one of {}", REFILL_STATUSES.join(", "));
            }
            let filter = RefillFilter { status, order_id: order, limit: limit.clamp(1, 1000) };
            let records = store.refills(filter).await?;
            let value = json!({ "refills": records.iter().map(refill).collect::<Vec<_>>() });
            emit(json, &value, || {
                if records.is_empty() {
                    "no refills".to_string()
                } else {
                    records.iter().map(line).collect::<Vec<_>>().join("\n")
                }
            });
        }
        RefillCommand::Close { id, status, json } => {
            let record = store.close_refill(id, status.trim()).await?;
            emit(json, &refill(&record), || line(&record));
        }
    }
    Ok(())
}
