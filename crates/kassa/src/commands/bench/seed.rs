//! The data a benchmark needs: funded wallets with keys, a service, and optionally a table of
//! existing orders. Written through the store (its rules, its group commit), many at a time.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use kassa_bench::Account;
use kassa_core::catalog::ServiceKind;
use kassa_core::crypto::Vault;
use kassa_core::validation::OrderRequest;
use kassa_core::CustomerId;
use kassa_store::{LedgerKind, NewCustomer, NewLedgerEntry, NewOrder, NewService, Store};
use tokio::task::JoinSet;

use crate::commands::admin::key;

/// Writes in flight at once while seeding (the store batches them into few commits).
const SEED_PARALLELISM: usize = 64;

pub struct Seeded {
    pub service_id: i64,
    pub customers: Vec<CustomerId>,
    pub accounts: Vec<Account>,
}

/// Prints `label n/total` on stderr every tenth of the way.
fn progress(label: &str, done: u64, total: u64, started: Instant) {
    let step = (total / 10).max(1);
    if done.is_multiple_of(step) || done == total {
        eprintln!("  {label}: {done}/{total} ({:.1}s)", started.elapsed().as_secs_f64());
    }
}

pub async fn wallets(store: Arc<dyn Store>, vault: Vault, count: usize, funds: &str, run: u64) -> Result<Seeded> {
    let service = store
        .create_service(NewService {
            name: format!("Bench likes {run}"),
            category: "Bench".into(),
            kind: ServiceKind::Default,
            price_per_1000: "0.45".parse().expect("a valid price"),
            min: 10,
            max: 1_000_000_000,
        })
        .await
        .context("creating the bench service")?;
    let amount = store.currency().parse(funds).context("the wallet funds")?;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut accounts = Vec::with_capacity(count);
    let mut customers = Vec::with_capacity(count);
    for n in 0..count {
        if tasks.len() >= SEED_PARALLELISM {
            let (customer, account) = tasks.join_next().await.expect("a task")??;
            customers.push(customer);
            accounts.push(account);
            progress("wallets", accounts.len() as u64, count as u64, started);
        }
        let (store, vault) = (store.clone(), vault.clone());
        tasks.spawn(async move {
            let customer = store
                .create_customer(NewCustomer { email: format!("bench-{run}-{n}@example.com"), ..Default::default() })
                .await?;
            store
                .post_ledger_entry(NewLedgerEntry {
                    customer_id: customer.id,
                    kind: LedgerKind::Topup,
                    amount,
                    reference: format!("bench-{run}-{n}"),
                    note: Some("benchmark funds".into()),
                })
                .await?;
            let (record, secret) =
                key::issue(store.as_ref(), &vault, customer.id, Vec::new(), Vec::new(), u32::MAX).await?;
            anyhow::Ok((customer.id, Account { api_key: record.api_key, secret, order_ids: Vec::new() }))
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (customer, account) = done??;
        customers.push(customer);
        accounts.push(account);
        progress("wallets", accounts.len() as u64, count as u64, started);
    }
    Ok(Seeded { service_id: service.id, customers, accounts })
}

/// Places `count` orders spread over the wallets, directly in the store; keeps up to 1,000 ids
/// per wallet for the status reads.
pub async fn orders(store: Arc<dyn Store>, seeded: &mut Seeded, count: u64, run: u64) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    let started = Instant::now();
    let wallets = seeded.customers.len() as u64;
    let mut tasks = JoinSet::new();
    let mut done = 0u64;
    let mut keep = |done: &mut u64, placed: (usize, String)| {
        let ids = &mut seeded.accounts[placed.0].order_ids;
        if ids.len() < 1000 {
            ids.push(placed.1);
        }
        *done += 1;
        progress("existing orders", *done, count, started);
    };
    for n in 0..count {
        if tasks.len() >= SEED_PARALLELISM * 4 {
            let placed = tasks.join_next().await.expect("a task")??;
            keep(&mut done, placed);
        }
        let wallet = (n % wallets) as usize;
        let customer = seeded.customers[wallet];
        let service_id = seeded.service_id;
        let store = store.clone();
        tasks.spawn(async move {
            let body = serde_json::json!({"service_id": service_id, "quantity": 1000, "link": format!("https://example.com/preload/{run}/{n}")});
            let request = OrderRequest::from_json(&body).map_err(|r| anyhow::anyhow!("{:?}", r.code))?;
            let placed = store
                .create_order(NewOrder {
                    customer_id: customer,
                    idempotency_key: format!("preload-{run}-{n}"),
                    request,
                    allowed_services: Vec::new(),
                    signature: None,
                })
                .await?;
            anyhow::Ok((wallet, placed.order().id.to_string()))
        });
    }
    while let Some(placed) = tasks.join_next().await {
        keep(&mut done, placed??);
    }
    Ok(())
}
