//! `kassa migrate`: create the database or bring its schema up to date.

use anyhow::{Context, Result};
use kassa_store::sqlite::SqliteStore;

use crate::settings::{redact_url, Database, Settings};

pub async fn run(settings: &Settings) -> Result<()> {
    match &settings.database {
        Database::Sqlite(path) => {
            println!("migrating sqlite:{}", path.display());
            let path = path.clone();
            let applied =
                tokio::task::spawn_blocking(move || SqliteStore::migrate(&path, std::time::Duration::from_secs(5)))
                    .await?
                    .context("migrating the SQLite database")?;
            report(&applied);
            Ok(())
        }
        Database::Postgres(url) => {
            anyhow::bail!("{}: PostgreSQL support is not built into this kassa yet", redact_url(url))
        }
    }
}

fn report(applied: &[i64]) {
    if applied.is_empty() {
        println!("schema is up to date");
    } else {
        println!("applied migrations {applied:?}; schema is up to date");
    }
}
