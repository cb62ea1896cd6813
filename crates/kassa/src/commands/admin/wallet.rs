use anyhow::{bail, Context, Result};
use kassa_core::{CustomerId, Minor};
use kassa_store::{LedgerKind, NewLedgerEntry, Posted, Store};
use serde_json::json;

use crate::cli::WalletCommand;
use crate::output::{self, emit};

pub async fn run(store: &dyn Store, command: WalletCommand) -> Result<()> {
    let currency = store.currency().clone();
    match command {
        WalletCommand::Credit { customer, amount, note, reference, json } => {
            let amount = parse_positive(&currency, &amount)?;
            post(store, customer, LedgerKind::Topup, amount, note, reference, json).await?;
        }
        WalletCommand::Debit { customer, amount, note, reference, confirm, json } => {
            if !confirm {
                bail!("taking money out of a wallet needs --confirm");
            }
            let amount = parse_positive(&currency, &amount)?;
            post(store, customer, LedgerKind::Adjustment, Minor(-amount.0), note, reference, json).await?;
        }
        WalletCommand::Show { customer, json } => {
            let wallet = store.wallet(CustomerId(customer)).await?;
            let value = json!({
                "customer_id": customer,
                "balance": kassa_store::present::money(&currency, wallet.balance),
                "currency": currency.code(),
            });
            emit(json, &value, || format!("customer {customer}: {}", output::money_text(&currency, wallet.balance)));
        }
        WalletCommand::Ledger { customer, limit, json } => {
            let entries = store.ledger(CustomerId(customer), limit.clamp(1, 10_000)).await?;
            let value =
                json!({ "entries": entries.iter().map(|e| output::ledger_entry(&currency, e)).collect::<Vec<_>>() });
            emit(json, &value, || {
                entries
                    .iter()
                    .map(|e| {
                        format!(
                            "{:>8}  {:<13} {:>12} → {:>12}  {}",
                            e.id,
                            e.kind,
                            currency.format(e.amount),
                            currency.format(e.balance_after),
                            e.reference
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

fn parse_positive(currency: &kassa_core::Currency, text: &str) -> Result<Minor> {
    let amount = currency.parse(text).with_context(|| format!("amount {text:?}"))?;
    if amount.0 <= 0 {
        bail!("the amount must be greater than zero");
    }
    Ok(amount)
}

async fn post(
    store: &dyn Store,
    customer: i64,
    kind: LedgerKind,
    amount: Minor,
    note: Option<String>,
    reference: Option<String>,
    json: bool,
) -> Result<()> {
    let currency = store.currency().clone();
    let reference = reference.unwrap_or_else(|| {
        // Said before posting: if the answer is lost, the same command with this reference
        // applies the entry once whatever happened.
        let generated = format!("{kind}:{}", uuid_like());
        eprintln!("posting under reference {generated} (to retry safely: --reference {generated})");
        generated
    });
    // The store answers a repeated reference with the entry written under it before.
    let Posted { entry, replayed: already_posted } = store
        .post_ledger_entry(NewLedgerEntry { customer_id: CustomerId(customer), kind, amount, reference, note })
        .await?;
    let value = json!({
        "customer_id": customer,
        "balance": kassa_store::present::money(&currency, entry.balance_after),
        "currency": currency.code(),
        "entry": output::ledger_entry(&currency, &entry),
        "already_posted": already_posted,
    });
    emit(json, &value, || {
        let posted = format!(
            "{} {} → balance {}",
            kind,
            output::money_text(&currency, amount),
            output::money_text(&currency, entry.balance_after)
        );
        match already_posted {
            true => format!("{posted} (posted before under reference {}; not applied again)", entry.reference),
            false => posted,
        }
    });
    Ok(())
}

/// A random reference for entries the operator did not name.
fn uuid_like() -> String {
    kassa_core::ids::random_token(b"0123456789abcdef", 24)
}
