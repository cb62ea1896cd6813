//! The providers this node talks to: connectors built from the store's provider rows, their API
//! keys opened with the vault, cached by id.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kassa_core::crypto::Vault;
use kassa_store::{ProviderKind, ProviderRecord, Store, StoreError};

use super::smm_v2::SmmV2;

/// The associated data that binds a sealed provider key to its provider.
pub fn key_context(provider_name: &str) -> String {
    format!("provider_key:{provider_name}")
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("provider {0} does not exist")]
    Unknown(i64),
    #[error("the key of provider {0} does not open with this master key")]
    Key(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Providers {
    store: Arc<dyn Store>,
    vault: Vault,
    http: reqwest::Client,
    cache: RwLock<HashMap<i64, Option<Arc<SmmV2>>>>,
}

impl Providers {
    pub fn new(store: Arc<dyn Store>, vault: Vault, connect_timeout: Duration, timeout: Duration) -> Self {
        Self { store, vault, http: SmmV2::http_client(connect_timeout, timeout), cache: RwLock::new(HashMap::new()) }
    }

    /// The connector of provider `id`; `None` for a manual provider.
    pub async fn connector(&self, id: i64) -> Result<Option<Arc<SmmV2>>, ProviderError> {
        if let Some(cached) = self.cache.read().expect("provider cache lock").get(&id) {
            return Ok(cached.clone());
        }
        let providers = self.store.providers().await?;
        let record = providers.iter().find(|p| p.id == id).ok_or(ProviderError::Unknown(id))?;
        let connector = self.build(record)?;
        self.cache.write().expect("provider cache lock").insert(id, connector.clone());
        Ok(connector)
    }

    /// A connector for `record` (used by the admin CLI too).
    pub fn build(&self, record: &ProviderRecord) -> Result<Option<Arc<SmmV2>>, ProviderError> {
        connector_for(&self.http, &self.vault, record)
    }
}

pub fn connector_for(
    http: &reqwest::Client,
    vault: &Vault,
    record: &ProviderRecord,
) -> Result<Option<Arc<SmmV2>>, ProviderError> {
    match (record.kind, &record.url, &record.key_sealed) {
        (ProviderKind::SmmV2, Some(url), Some(sealed)) => {
            let key =
                vault.open(sealed, &key_context(&record.name)).map_err(|_| ProviderError::Key(record.name.clone()))?;
            let key = String::from_utf8(key).map_err(|_| ProviderError::Key(record.name.clone()))?;
            Ok(Some(Arc::new(SmmV2::new(http.clone(), url, &key))))
        }
        _ => Ok(None),
    }
}
