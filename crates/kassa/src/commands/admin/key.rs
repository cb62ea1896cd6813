use anyhow::{Context, Result};
use ipnet::IpNet;
use kassa_core::crypto::Vault;
use kassa_core::ids::{generate_api_key, generate_api_secret};
use kassa_core::CustomerId;
use kassa_server::auth::secret_context;
use kassa_store::{ApiKeyRecord, KeyStatus, NewApiKey, Store};
use serde_json::json;

use crate::cli::KeyCommand;
use crate::output::{self, emit};
use crate::settings::Settings;

/// Makes a key and its secret, seals the secret with the vault and stores the key. The secret is
/// returned to show once; kassa never shows it again.
pub async fn issue(
    store: &dyn Store,
    vault: &Vault,
    customer: CustomerId,
    allowed_ips: Vec<IpNet>,
    allowed_services: Vec<i64>,
    rate_limit_per_minute: u32,
) -> Result<(ApiKeyRecord, String)> {
    anyhow::ensure!(rate_limit_per_minute > 0, "the rate limit must be at least 1 request per minute");
    let api_key = generate_api_key();
    let secret = generate_api_secret();
    let secret_sealed = vault.seal(secret.as_bytes(), &secret_context(&api_key));
    let record = store
        .create_api_key(NewApiKey {
            customer_id: customer,
            api_key,
            secret_sealed,
            allowed_ips,
            allowed_services,
            rate_limit_per_minute,
        })
        .await?;
    Ok((record, secret))
}

/// Accepts CIDRs (`10.0.0.0/8`) and single addresses (`203.0.113.7`).
fn parse_ip_or_net(text: &str) -> Result<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .with_context(|| format!("{text:?} is not an IP address or CIDR"))
}

pub async fn run(settings: &Settings, store: &dyn Store, command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Create { customer, allow_ip, rate_limit_per_minute, services, json } => {
            let ips = allow_ip
                .iter()
                .flat_map(|s| s.split(','))
                .filter(|s| !s.trim().is_empty())
                .map(parse_ip_or_net)
                .collect::<Result<Vec<_>>>()?;
            let vault = settings.vault()?;
            let (record, secret) =
                issue(store, &vault, CustomerId(customer), ips, services, rate_limit_per_minute).await?;
            let mut value = output::api_key(&record);
            value["api_secret"] = json!(secret);
            emit(json, &value, || {
                format!(
                    "API key:    {}\nAPI secret: {}\n(the secret is shown only now; store it safely)",
                    record.api_key, secret
                )
            });
        }
        KeyCommand::Disable { key, json } => set_status(store, &key, KeyStatus::Disabled, json).await?,
        KeyCommand::Enable { key, json } => set_status(store, &key, KeyStatus::Active, json).await?,
        KeyCommand::Revoke { key, json } => set_status(store, &key, KeyStatus::Revoked, json).await?,
        KeyCommand::List { customer, json } => {
            let keys = store.list_api_keys(customer.map(CustomerId)).await?;
            let value = json!({ "keys": keys.iter().map(output::api_key).collect::<Vec<_>>() });
            emit(json, &value, || {
                keys.iter()
                    .map(|k| {
                        format!(
                            "{}  customer {:<6} {:<8} {}/min",
                            k.api_key, k.customer_id, k.status, k.rate_limit_per_minute
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

async fn set_status(store: &dyn Store, key: &str, status: KeyStatus, json: bool) -> Result<()> {
    let record = store.set_api_key_status(key, status).await?;
    emit(json, &output::api_key(&record), || format!("{} is now {}", record.api_key, record.status));
    Ok(())
}
