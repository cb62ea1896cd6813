//! Key records kept between requests, so a signed request does not read its key, customer and
//! wallet rows afresh every time. On a busy database that read started from nothing on every
//! request: SQLite drops a reader's page cache whenever another connection has committed, which
//! the order writer does many times a second, and the lookup was most of the HTTP side's work.
//!
//! A record is kept with the authentication epoch of the snapshot it was read in (migration 9:
//! triggers give the epoch a new random value in the same transaction as any change to a key or
//! a customer, from any process). A kept record is used only in a snapshot whose epoch is that
//! same value, so it is exactly what a fresh read would give; the wallet balance, which changes
//! with every order, is always read, in that snapshot. A key revoked, or a customer disabled, by
//! the admin CLI in another process is refused on its very next request, as without the cache.
//!
//! That rests on the triggers. A database whose triggers are not all there (a rebuilt table
//! loses its triggers; so does a hand-made copy of the schema) gets no cache: the store checks
//! when it opens, warns, and reads every key afresh.

use dashmap::DashMap;
use rusqlite::Connection;

use super::sql;
use crate::model::AuthRecord;
use crate::StoreResult;

/// The triggers of migration 9 that move the epoch; the cache is correct only with all of them.
const EPOCH_TRIGGERS: [&str; 6] = [
    "api_keys_insert_moves_auth_epoch",
    "api_keys_update_moves_auth_epoch",
    "api_keys_delete_moves_auth_epoch",
    "customers_insert_moves_auth_epoch",
    "customers_update_moves_auth_epoch",
    "customers_delete_moves_auth_epoch",
];

pub(super) struct AuthCache {
    entries: DashMap<String, (i64, AuthRecord)>,
    /// `false` when the database lacks an epoch trigger: every record is then read afresh.
    enabled: bool,
}

impl AuthCache {
    /// Most records kept; beyond it the cache starts over (it only saves a read).
    const MAX_ENTRIES: usize = 20_000;

    /// A cache for the database `conn` is open on, or a pass-through if its epoch triggers are
    /// not all in place.
    pub(super) fn for_database(conn: &Connection) -> StoreResult<Self> {
        let present: std::collections::HashSet<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(super::map_err)?;
        let missing: Vec<&str> = EPOCH_TRIGGERS.into_iter().filter(|name| !present.contains(*name)).collect();
        if !missing.is_empty() {
            tracing::warn!(
                ?missing,
                "the SQLite database lacks triggers of migration 9; API key records are read afresh on every \
                 request (slower). Recreate the triggers from migrations/sqlite/0009_auth_epoch.sql"
            );
        }
        Ok(Self { entries: DashMap::new(), enabled: missing.is_empty() })
    }

    /// The key's record as a read in a new snapshot on `conn` gives it: reads the epoch and the
    /// balance, and the whole record only if the epoch moved since the kept one was read.
    pub(super) fn auth_record(&self, conn: &Connection, api_key: &str) -> StoreResult<Option<AuthRecord>> {
        if !self.enabled {
            return Ok(sql::auth_record(conn, api_key)?.map(|(_, record)| record));
        }
        let kept = self.entries.get(api_key).map(|entry| entry.clone());
        if let Some((epoch, mut record)) = kept {
            let (current, balance) = sql::auth_epoch_and_balance(conn, record.key.customer_id)?;
            if current == epoch {
                record.wallet_balance = balance;
                return Ok(Some(record));
            }
        }
        match sql::auth_record(conn, api_key)? {
            Some((epoch, record)) => {
                if self.entries.len() >= Self::MAX_ENTRIES {
                    self.entries.clear();
                }
                self.entries.insert(api_key.to_string(), (epoch, record.clone()));
                Ok(Some(record))
            }
            None => {
                self.entries.remove(api_key);
                Ok(None)
            }
        }
    }
}
