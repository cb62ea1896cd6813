//! After a run that placed orders: do the books agree with what the clients were told?

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Result;
use kassa_core::ids::OrderId;
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
    /// Ids answered as created more than once, and answered but not in the database. With these
    /// at zero and the two counts above equal, the orders in the database are exactly the ones
    /// answered: a lost order cannot hide behind one committed without an answer.
    pub duplicate_ids: u64,
    pub missing_ids: u64,
    /// What the answers charged, and what left the bench wallets.
    pub charged: String,
    pub debited: String,
    pub lowest_balance: String,
    /// Every wallet equals its ledger, every order has exactly one charge entry.
    pub ledger_consistent: bool,
    pub ok: bool,
}

/// Looks up every order id the clients were answered with; answers how many are not there.
async fn missing(store: &Arc<dyn Store>, ids: &[String]) -> Result<u64> {
    const LOOKUPS_IN_FLIGHT: usize = 16;
    let chunk = ids.len().div_ceil(LOOKUPS_IN_FLIGHT).max(1);
    let mut lookups = tokio::task::JoinSet::new();
    for part in ids.chunks(chunk) {
        let (store, part) = (store.clone(), part.to_vec());
        lookups.spawn(async move {
            let mut missing = 0u64;
            for id in part {
                let found = match id.parse::<OrderId>() {
                    Ok(id) => store.order(None, &id).await?.is_some(),
                    Err(_) => false,
                };
                missing += u64::from(!found);
            }
            anyhow::Ok(missing)
        });
    }
    let mut missing = 0;
    while let Some(done) = lookups.join_next().await {
        missing += done??;
    }
    Ok(missing)
}

pub async fn check(
    store: &Arc<dyn Store>,
    before: Snapshot,
    after: Snapshot,
    answered: &kassa_bench::Outcome,
) -> Result<Books> {
    let (answered_created, charged) = (answered.orders_created, answered.charged);
    eprintln!("  books: looking up the {} orders answered as created", answered.created_ids.len());
    let distinct = answered.created_ids.iter().collect::<HashSet<_>>().len() as u64;
    let duplicate_ids = answered.created_ids.len() as u64 - distinct;
    let missing_ids = missing(store, &answered.created_ids).await?;
    let currency = store.currency();
    let debited = currency.to_decimal(Minor(before.balances.0 - after.balances.0));
    let audit = store.audit_books().await?;
    let orders_in_database = after.orders - before.orders;
    let ledger_consistent = audit.is_balanced();
    let charged = charged.decimal();
    let ok = orders_in_database == answered_created
        && duplicate_ids == 0
        && missing_ids == 0
        && debited == charged
        && after.lowest.0 >= 0
        && ledger_consistent;
    Ok(Books {
        answered_created,
        orders_in_database,
        duplicate_ids,
        missing_ids,
        charged: charged.to_string(),
        debited: debited.to_string(),
        lowest_balance: currency.format(after.lowest),
        ledger_consistent,
        ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id the clients were answered with but the database does not hold counts as missing
    /// (the present ones are checked by the benchmark smoke test in the suite).
    #[tokio::test]
    async fn an_answered_order_not_in_the_database_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let options = kassa_store::sqlite::SqliteOptions::new(dir.path().join("kassa.db"));
        let store: Arc<dyn Store> = Arc::new(kassa_store::sqlite::SqliteStore::open(options).await.unwrap());
        let ids = [OrderId::generate().as_str().to_string(), "not an order id".to_string()];
        assert_eq!(missing(&store, &ids).await.unwrap(), 2);
        assert_eq!(missing(&store, &[]).await.unwrap(), 0);
    }
}
