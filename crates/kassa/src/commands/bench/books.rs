//! After a run that placed orders: do the books agree with what the clients were told?

use anyhow::Result;
use kassa_core::{CustomerId, Minor};
use kassa_store::{OrderFilter, Store};
use serde::Serialize;

/// What the store holds, before or after a run.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    orders: u64,
    /// The bench wallets' balances, summed.
    balances: Minor,
    lowest: Minor,
}

impl Snapshot {
    /// Orders in the whole table.
    pub fn orders(&self) -> u64 {
        self.orders
    }
}

pub async fn snapshot(store: &dyn Store, customers: &[CustomerId]) -> Result<Snapshot> {
    let orders = store.list_orders(OrderFilter { page: 1, limit: 1, ..Default::default() }).await?.total;
    let mut balances = 0i64;
    let mut lowest = i64::MAX;
    for customer in customers {
        let balance = store.wallet(*customer).await?.balance.0;
        balances += balance;
        lowest = lowest.min(balance);
    }
    Ok(Snapshot { orders, balances: Minor(balances), lowest: Minor(lowest) })
}

#[derive(Debug, Serialize)]
pub struct Books {
    /// 201 answers that created an order (replays excluded).
    pub answered_created: u64,
    /// Orders that appeared in the database during the run.
    pub orders_in_database: u64,
    /// What the answers charged, and what left the bench wallets.
    pub charged: String,
    pub debited: String,
    pub lowest_balance: String,
    /// Every wallet equals its ledger, every order has exactly one charge entry.
    pub ledger_consistent: bool,
    pub ok: bool,
}

pub async fn check(
    store: &dyn Store,
    before: Snapshot,
    after: Snapshot,
    answered_created: u64,
    charged: kassa_wire::Amount,
) -> Result<Books> {
    let currency = store.currency();
    let debited = currency.to_decimal(Minor(before.balances.0 - after.balances.0));
    let audit = store.audit_books().await?;
    let orders_in_database = after.orders - before.orders;
    let ledger_consistent = audit.is_balanced();
    let charged = charged.decimal();
    let ok = orders_in_database == answered_created && debited == charged && after.lowest.0 >= 0 && ledger_consistent;
    Ok(Books {
        answered_created,
        orders_in_database,
        charged: charged.to_string(),
        debited: debited.to_string(),
        lowest_balance: currency.format(after.lowest),
        ledger_consistent,
        ok,
    })
}
