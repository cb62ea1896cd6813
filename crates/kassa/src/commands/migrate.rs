//! `kassa migrate`: create the database or bring its schema up to date.

use anyhow::{Context, Result};
use kassa_store::postgres::PostgresStore;
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
            println!("migrating {}", redact_url(url));
            let applied = PostgresStore::migrate(&settings.postgres.options(url))
                .await
                .with_context(|| format!("migrating {}", redact_url(url)))?;
            report(&applied);
            Ok(())
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
