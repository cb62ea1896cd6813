//! Resolves settings from flags, environment (`KASSA_*`) and an optional TOML file, in that
//! order of precedence, and validates them before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ipnet::IpNet;
use kassa_core::crypto::{MasterKey, Vault};
use kassa_core::Currency;
use kassa_store::postgres::{PostgresOptions, PostgresStore};
use kassa_store::sqlite::{SqliteOptions, SqliteStore};
use kassa_store::Store;
use serde::Deserialize;

use crate::cli::{GlobalArgs, LogFormat};

/// The TOML file: every key optional, unknown keys refused (a typo should not pass silently).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub listen: Option<SocketAddr>,
    pub trusted_proxies: Option<Vec<IpNet>>,
    pub currency: Option<String>,
    pub currency_decimals: Option<u8>,
    pub request_timeout_secs: Option<u64>,
    pub redis_url: Option<String>,
    pub profile_timestamp_window_secs: Option<u64>,
    pub pg_pool_size: Option<usize>,
    pub pg_acquire_timeout_ms: Option<u64>,
    pub pg_connect_timeout_ms: Option<u64>,
    pub pg_statement_timeout_ms: Option<u64>,
}

/// PostgreSQL pool size and timeouts; `None` keeps the store's default.
#[derive(Debug, Clone, Default)]
pub struct PostgresTuning {
    pub pool_size: Option<usize>,
    pub acquire_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub statement_timeout_ms: Option<u64>,
}

impl PostgresTuning {
    pub fn options(&self, url: &str) -> PostgresOptions {
        let defaults = PostgresOptions::new(url);
        let ms = |v: Option<u64>, d: Duration| v.map(Duration::from_millis).unwrap_or(d);
        PostgresOptions {
            pool_size: self.pool_size.unwrap_or(defaults.pool_size),
            acquire_timeout: ms(self.acquire_timeout_ms, defaults.acquire_timeout),
            connect_timeout: ms(self.connect_timeout_ms, defaults.connect_timeout),
            statement_timeout: ms(self.statement_timeout_ms, defaults.statement_timeout),
            ..defaults
        }
    }
}

/// Where the data is.
#[derive(Clone)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Database::Postgres(url) => write!(f, "{}", redact_url(url)),
        }
    }
}

pub use kassa_core::redact::redact_url;

pub struct Settings {
    pub database: Database,
    /// PostgreSQL pool and timeouts (flags over file over defaults).
    pub postgres: PostgresTuning,
    pub master_key_file: PathBuf,
    pub log_format: LogFormat,
    pub file: FileConfig,
}

impl Settings {
    pub fn resolve(global: &GlobalArgs) -> Result<Self> {
        let file = match &global.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir =
            global.data_dir.clone().or_else(|| file.data_dir.clone()).unwrap_or_else(|| PathBuf::from("kassa-data"));
        let database = match global.database_url.clone().or_else(|| file.database_url.clone()) {
            Some(url) => parse_database_url(&url)?,
            None => Database::Sqlite(data_dir.join("kassa.db")),
        };
        let master_key_file = global
            .master_key_file
            .clone()
            .or_else(|| file.master_key_file.clone())
            .unwrap_or_else(|| data_dir.join("master.key"));
        let log_format = global.log_format.or(file.log_format).unwrap_or(LogFormat::Text);
        let postgres = PostgresTuning {
            pool_size: global.pg_pool_size.or(file.pg_pool_size),
            acquire_timeout_ms: global.pg_acquire_timeout_ms.or(file.pg_acquire_timeout_ms),
            connect_timeout_ms: global.pg_connect_timeout_ms.or(file.pg_connect_timeout_ms),
            statement_timeout_ms: global.pg_statement_timeout_ms.or(file.pg_statement_timeout_ms),
        };
        // Checked only where it applies: a stale KASSA_PG_POOL_SIZE must not stop a SQLite node.
        if let (Database::Postgres(_), Some(size @ 0..=1)) = (&database, postgres.pool_size) {
            bail!(
                "pg_pool_size must be at least 2, got {size}: a quarter of the pool (at least one \
                 connection) looks up API keys, the rest serves everything else"
            );
        }
        Ok(Self { database, postgres, master_key_file, log_format, file })
    }

    /// The wallet currency asked for by flags or file, if any.
    pub fn currency(&self, code: Option<&str>, decimals: Option<u8>) -> Result<Option<Currency>> {
        let code = code.map(str::to_string).or_else(|| self.file.currency.clone());
        let decimals = decimals.or(self.file.currency_decimals);
        if code.is_none() && decimals.is_none() {
            return Ok(None);
        }
        let currency = Currency::new(code.as_deref().unwrap_or("USD"), decimals.unwrap_or(2))?;
        Ok(Some(currency))
    }

    /// Opens the configured store. The embedded SQLite file is created and migrated on first
    /// use; other databases must be migrated with `kassa migrate`.
    pub async fn open_store(&self, currency: Option<Currency>) -> Result<Arc<dyn Store>> {
        match &self.database {
            Database::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    private_dir(dir)?;
                }
                let options = SqliteOptions { currency, ..SqliteOptions::new(path) };
                let store = SqliteStore::open(options)
                    .await
                    .with_context(|| format!("opening SQLite database {}", path.display()))?;
                Ok(Arc::new(store))
            }
            Database::Postgres(url) => {
                let options = PostgresOptions { currency, ..self.postgres.options(url) };
                let store = PostgresStore::open(options).await.context("opening the PostgreSQL database")?;
                Ok(Arc::new(store))
            }
        }
    }

    /// The vault: seals with the master key, and opens values sealed with it or with one of the
    /// retired keys in `KASSA_MASTER_KEY_RETIRED` (comma-separated, hex or base64). During a key
    /// rotation the old key is listed there, so everything sealed before keeps opening while new
    /// values are sealed with the new key.
    pub fn vault(&self) -> Result<Vault> {
        let mut vault = Vault::new(self.master_key()?);
        if let Ok(retired) = std::env::var("KASSA_MASTER_KEY_RETIRED") {
            for (n, text) in retired.split(',').filter(|t| !t.trim().is_empty()).enumerate() {
                let key = MasterKey::parse(text).with_context(|| format!("KASSA_MASTER_KEY_RETIRED, key {}", n + 1))?;
                vault = vault.with_retired(key);
            }
        }
        Ok(vault)
    }

    /// The master key: `KASSA_MASTER_KEY`, else the key file. For the embedded store a missing
    /// key file is generated (mode 0600); for a shared database every node must be given the
    /// same key, so it is never generated.
    pub fn master_key(&self) -> Result<MasterKey> {
        if let Ok(text) = std::env::var("KASSA_MASTER_KEY") {
            return MasterKey::parse(&text).context("KASSA_MASTER_KEY");
        }
        let path = &self.master_key_file;
        if path.exists() {
            check_key_file_mode(path)?;
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading master key {}", path.display()))?;
            return MasterKey::parse(&text).with_context(|| format!("master key file {}", path.display()));
        }
        match self.database {
            Database::Sqlite(_) => create_key_file(path),
            Database::Postgres(_) => bail!(
                "no master key: set KASSA_MASTER_KEY or --master-key-file (every node sharing a database needs the same key)"
            ),
        }
    }
}

fn parse_database_url(url: &str) -> Result<Database> {
    if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        if rest.is_empty() {
            bail!("database URL {url:?} names no file");
        }
        return Ok(Database::Sqlite(PathBuf::from(rest)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Database::Postgres(url.to_string()));
    }
    bail!("database URL must start with sqlite:// or postgres://, got {}", redact_url(url))
}

/// Creates a directory for kassa's data readable by its owner only (it holds the money and,
/// by default, the master key). An existing directory is left as the operator made it.
pub fn private_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))
}

fn create_key_file(path: &Path) -> Result<MasterKey> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating master key file {}", path.display()))?;
    file.write_all(format!("{}\n", key.to_hex()).as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a new master key; back it up: without it API secrets and documents cannot be read");
    Ok(key)
}

fn check_key_file_mode(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!("master key file {} is readable by others (mode {:o}); chmod 600 it", path.display(), mode & 0o777);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert!(
            matches!(parse_database_url("sqlite://data/k.db").unwrap(), Database::Sqlite(p) if p == Path::new("data/k.db"))
        );
        assert!(
            matches!(parse_database_url("sqlite:///tmp/k.db").unwrap(), Database::Sqlite(p) if p == Path::new("/tmp/k.db"))
        );
        assert!(matches!(parse_database_url("postgres://u:p@h/db").unwrap(), Database::Postgres(_)));
        assert!(parse_database_url("mysql://x").is_err());
        assert_eq!(redact_url("postgres://u:p4ss@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
