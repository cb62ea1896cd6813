//! `kassa admin verification ...`: the identity-review queue. Documents and id numbers are sealed
//! in the database; these commands open them with the master key, for the operator only:
//! `show` prints the id number, `document` writes one document to a new file readable by its
//! owner alone. Nothing is ever printed from a document itself.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use kassa_core::verification::{document_context, id_number_context, ReviewAction, VerificationStatus};
use kassa_core::CustomerId;
use kassa_store::{AuditEntry, DocumentSlot, Review, Store, VerificationFilter, VerificationRecord};
use serde_json::{json, Value};

use crate::cli::{ReviewArgs, VerificationCommand};
use crate::output::emit;
use crate::settings::Settings;

/// Most verifications one `list` prints.
const MAX_LIST: u32 = 1000;

pub async fn run(settings: &Settings, store: &dyn Store, command: VerificationCommand) -> Result<()> {
    match command {
        VerificationCommand::List { status, customer, limit, json } => {
            let status =
                status.as_deref().map(str::parse::<VerificationStatus>).transpose().map_err(anyhow::Error::msg)?;
            let filter =
                VerificationFilter { status, customer_id: customer.map(CustomerId), limit: limit.clamp(1, MAX_LIST) };
            let records = store.list_verifications(filter).await?;
            let value = json!({ "verifications": records.iter().map(record).collect::<Vec<_>>() });
            emit(json, &value, || {
                if records.is_empty() {
                    return "no verifications".to_string();
                }
                records.iter().map(line).collect::<Vec<_>>().join("\n")
            });
        }
        VerificationCommand::Show { id, json } => {
            let found = find(store, id).await?;
            let vault = settings.vault()?;
            let id_number = vault
                .open(&found.id_number_sealed, &id_number_context(&found.reference))
                .with_context(|| format!("the id number of verification {id} does not open with this master key"))?;
            let id_number = String::from_utf8(id_number).context("the id number is not UTF-8")?;
            let audit = store.verification_audit(id).await?;
            let mut value = record(&found);
            value["reference"] = json!(found.reference);
            value["id_number"] = json!(id_number);
            value["audit"] = json!(audit.iter().map(audit_entry).collect::<Vec<_>>());
            emit(json, &value, || {
                let mut lines = vec![line(&found), format!("id number: {id_number}")];
                lines.extend(audit.iter().map(|a| {
                    format!(
                        "  {}  {:<7} by {}{}",
                        kassa_store::present::rfc3339(a.created_at),
                        a.action,
                        a.actor,
                        a.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                    )
                }));
                lines.join("\n")
            });
        }
        VerificationCommand::Document { id, slot, out, json } => {
            let slot = DocumentSlot::from_number(slot.into()).context("the document slot is 1 or 2")?;
            let vault = settings.vault()?;
            let Some(document) = store.verification_document(id, slot).await? else {
                find(store, id).await?;
                bail!("verification {id} has no document {}", slot.number());
            };
            let bytes =
                vault.open(&document.sealed, &document_context(&document.reference, slot)).with_context(|| {
                    format!("document {} of verification {id} does not open with this master key", slot.number())
                })?;
            write_private(&out, &bytes)?;
            let value = json!({
                "id": id,
                "slot": slot.number(),
                "type": document.info.kind.as_str(),
                "mime": document.info.kind.mime(),
                "size": bytes.len(),
                "out": out.display().to_string(),
            });
            emit(json, &value, || {
                format!(
                    "wrote document {} of verification {id} ({}, {} bytes) to {}",
                    slot.number(),
                    document.info.kind,
                    bytes.len(),
                    out.display()
                )
            });
        }
        VerificationCommand::Approve(args) => review(store, ReviewAction::Approve, args).await?,
        VerificationCommand::Reject(args) => review(store, ReviewAction::Reject, args).await?,
        VerificationCommand::Cancel(args) => review(store, ReviewAction::Cancel, args).await?,
    }
    Ok(())
}

/// Who runs this command when `--actor` does not say: the login name from the environment, or
/// (in containers, where none is set) the user id and host, which still tell operators apart.
fn login_name() -> String {
    let from_env = ["USER", "LOGNAME"].iter().find_map(|v| std::env::var(v).ok().filter(|n| !n.trim().is_empty()));
    from_env.unwrap_or_else(|| {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)).map(str::to_string)
            })
            .unwrap_or_else(|| "?".into());
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        format!("uid:{uid}@{host}")
    })
}

async fn find(store: &dyn Store, id: i64) -> Result<VerificationRecord> {
    store.verification(id).await?.with_context(|| format!("verification {id} not found"))
}

async fn review(store: &dyn Store, action: ReviewAction, args: ReviewArgs) -> Result<()> {
    let actor = match args.actor.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(actor) => actor.to_string(),
        None => login_name(),
    };
    let reason = args.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    let decided = store.review_verification(Review { verification_id: args.id, action, actor, reason }).await?;
    let mut value = record(&decided);
    if action == ReviewAction::Approve {
        value["customer_verified"] = json!(true);
    }
    emit(args.json, &value, || {
        let outcome = match action {
            ReviewAction::Approve => "approved: the customer is now verified",
            ReviewAction::Reject => "rejected: the customer may submit again",
            ReviewAction::Cancel => "cancelled: the customer cannot submit again",
        };
        format!("verification {} {outcome}", decided.id)
    });
    Ok(())
}

/// Creates `path` for the owner alone and writes `bytes`; refuses to replace an existing file,
/// so a decrypted document never lands in a file others could already read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        format!("creating {} (an existing file is never overwritten; choose a new path)", path.display())
    })?;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", path.display()))
}

/// A verification as `--json` shows it; the id number only appears in `show`.
fn record(v: &VerificationRecord) -> Value {
    json!({
        "id": v.id,
        "customer_id": v.customer_id.0,
        "status": v.status.as_str(),
        "verify_type": v.verify_type.as_str(),
        "first_name": v.first_name,
        "gender": v.gender.code(),
        "documents": v.documents.iter().map(|d| json!({
            "slot": d.slot.number(),
            "type": d.kind.as_str(),
            "size": d.size,
        })).collect::<Vec<_>>(),
        "submitted_at": kassa_store::present::rfc3339(v.submitted_at),
        "reviewed_at": v.reviewed_at.map(kassa_store::present::rfc3339),
        "reviewed_by": v.reviewed_by,
        "review_reason": v.review_reason,
    })
}

fn audit_entry(a: &AuditEntry) -> Value {
    json!({
        "action": a.action.as_str(),
        "from_status": a.from_status.map(|s| s.as_str()),
        "to_status": a.to_status.as_str(),
        "actor": a.actor,
        "reason": a.reason,
        "at": kassa_store::present::rfc3339(a.created_at),
    })
}

fn line(v: &VerificationRecord) -> String {
    let documents: Vec<String> = v.documents.iter().map(|d| format!("{}:{}", d.slot.number(), d.kind)).collect();
    format!(
        "{:>6}  customer {:<6} {:<10} {:<15} documents [{}]  submitted {}",
        v.id,
        v.customer_id,
        v.status,
        v.verify_type,
        documents.join(" "),
        kassa_store::present::rfc3339(v.submitted_at)
    )
}
