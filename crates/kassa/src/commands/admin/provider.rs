use std::time::Duration;

use anyhow::{bail, Context, Result};
use kassa_server::fulfilment::providers::{connector_for, key_context};
use kassa_server::fulfilment::smm_v2::SmmV2;
use kassa_store::{NewProvider, ProviderKind, ProviderRecord, Store};
use serde_json::json;

use crate::cli::ProviderCommand;
use crate::output::emit;
use crate::settings::Settings;

/// A provider by name or numeric id.
pub async fn find(store: &dyn Store, name_or_id: &str) -> Result<ProviderRecord> {
    let providers = store.providers().await?;
    providers
        .into_iter()
        .find(|p| p.name == name_or_id || p.id.to_string() == name_or_id)
        .with_context(|| format!("no provider named {name_or_id:?} (see kassa admin provider list)"))
}

fn view(p: &ProviderRecord) -> serde_json::Value {
    json!({
        "id": p.id,
        "name": p.name,
        "kind": p.kind.as_str(),
        "url": p.url,
        "created_at": kassa_store::present::rfc3339(p.created_at),
    })
}

async fn connector(settings: &Settings, store: &dyn Store, provider: &str) -> Result<std::sync::Arc<SmmV2>> {
    let record = find(store, provider).await?;
    let vault = settings.vault()?;
    let http = SmmV2::http_client(Duration::from_secs(5), Duration::from_secs(30));
    connector_for(&http, &vault, &record)?
        .with_context(|| format!("provider {} is manual: there is nothing to ask", record.name))
}

pub async fn run(settings: &Settings, store: &dyn Store, command: ProviderCommand) -> Result<()> {
    match command {
        ProviderCommand::Add { name, kind, url, key, json } => {
            let kind: ProviderKind = kind.parse().map_err(anyhow::Error::msg)?;
            let key_sealed = match (kind, &key) {
                (ProviderKind::SmmV2, Some(key)) => {
                    let vault = settings.vault()?;
                    Some(vault.seal(key.as_bytes(), &key_context(&name)))
                }
                (ProviderKind::SmmV2, None) => bail!("an smm-v2 provider needs --key (or KASSA_PROVIDER_KEY)"),
                (ProviderKind::Manual, _) => None,
            };
            if url.as_deref().is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
                bail!("the provider URL must be http:// or https://");
            }
            let record = store.create_provider(NewProvider { name, kind, url, key_sealed }).await?;
            emit(json, &view(&record), || format!("added provider {} ({}) as {}", record.id, record.kind, record.name));
        }
        ProviderCommand::List { json } => {
            let providers = store.providers().await?;
            let value = json!({ "providers": providers.iter().map(view).collect::<Vec<_>>() });
            emit(json, &value, || {
                providers
                    .iter()
                    .map(|p| format!("{:>4}  {:<20} {:<7} {}", p.id, p.name, p.kind, p.url.as_deref().unwrap_or("-")))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ProviderCommand::Services { provider, json } => {
            eprintln!("asking the provider for its services…");
            let services = connector(settings, store, &provider).await?.services().await.map_err(anyhow::Error::msg)?;
            let value = json!({ "services": services });
            emit(json, &value, || {
                services
                    .iter()
                    .map(|s| {
                        format!(
                            "{:>6}  {:<40} rate {:<10} min {:<6} max {}",
                            s["service"],
                            s["name"].as_str().unwrap_or("?"),
                            s["rate"],
                            s["min"],
                            s["max"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ProviderCommand::Balance { provider, json } => {
            let (balance, currency) =
                connector(settings, store, &provider).await?.balance().await.map_err(anyhow::Error::msg)?;
            emit(json, &json!({"balance": balance, "currency": currency}), || format!("{balance} {currency}"));
        }
    }
    Ok(())
}
