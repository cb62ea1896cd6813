//! `kassa serve --demo`: on an empty database, everything needed to try the API at once.

use std::net::SocketAddr;

use anyhow::Result;
use kassa_core::catalog::ServiceKind;
use kassa_core::crypto::Vault;
use kassa_server::fulfilment::providers::key_context;
use kassa_store::{
    LedgerKind, NewCustomer, NewLedgerEntry, NewProvider, NewService, ProviderKind, ServicePatch, Store,
};
use kassa_wire::sign::buyshazam;

use super::admin::key;

/// With `provider` (URL and key of an smm-v2 provider, e.g. `kassa provider-sim`), the demo
/// services are fulfilled there: provider services 1, 2 and 3 of the simulator's catalogue.
pub async fn seed(store: &dyn Store, vault: &Vault, address: SocketAddr, provider: Option<(&str, &str)>) -> Result<()> {
    if !store.list_customers().await?.is_empty() {
        println!("--demo: the database already has customers, so no demo data was added.");
        println!("        Create a fresh key with: kassa admin key create --customer 1");
        return Ok(());
    }
    let currency = store.currency().clone();
    let customer = store
        .create_customer(NewCustomer {
            email: "demo@example.com".into(),
            first_name: Some("Demo".into()),
            last_name: Some("Customer".into()),
            phone: None,
        })
        .await?;
    let amount = currency.parse("100")?;
    store
        .post_ledger_entry(NewLedgerEntry {
            customer_id: customer.id,
            kind: LedgerKind::Topup,
            amount,
            reference: "demo:topup".into(),
            note: Some("demo funds".into()),
        })
        .await?;
    let services = [
        ("Instagram Followers (demo)", "Instagram", ServiceKind::Default, "0.45", 10, 100_000),
        ("TikTok Custom Comments (demo)", "TikTok", ServiceKind::CustomComments, "12.00", 1, 1_000),
        ("YouTube Likes Package (demo)", "YouTube", ServiceKind::Package, "1.50", 100, 50_000),
    ];
    let provider_id = match provider {
        Some((url, key)) => {
            let record = store
                .create_provider(NewProvider {
                    name: "demo-provider".into(),
                    kind: ProviderKind::SmmV2,
                    url: Some(url.to_string()),
                    key_sealed: Some(vault.seal(key.as_bytes(), &key_context("demo-provider"))),
                })
                .await?;
            Some(record.id)
        }
        None => None,
    };
    let mut first_service = None;
    for (index, (name, category, kind, price, min, max)) in services.into_iter().enumerate() {
        let service = store
            .create_service(NewService {
                name: name.into(),
                category: category.into(),
                kind,
                price_per_1000: price.parse()?,
                min,
                max,
            })
            .await?;
        if let Some(provider_id) = provider_id {
            let patch = ServicePatch {
                provider: Some(Some((provider_id, (index + 1).to_string()))),
                cancel_allowed: Some(true),
                refill_allowed: Some(true),
                ..Default::default()
            };
            store.update_service(service.id, patch).await?;
        }
        first_service.get_or_insert(service.id);
    }
    if let Some((url, _)) = provider {
        println!("--demo: the demo services are fulfilled by the provider at {url}");
    }
    let (record, secret) = key::issue(store, vault, customer.id, Vec::new(), Vec::new(), 600).await?;

    let host = if address.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], address.port())) } else { address };
    let base = format!("http://{host}");
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs().to_string();
    let signature = buyshazam::sign(&secret, "GET", "/api/v1/balance", &timestamp, b"");
    println!(
        "--demo: created customer {} with {} {}, {} services and an API key:",
        customer.id,
        currency.format(amount),
        currency.code(),
        services.len()
    );
    println!();
    println!("  KASSA_BASE_URL={base}");
    println!("  KASSA_API_KEY={}", record.api_key);
    println!("  KASSA_API_SECRET={secret}");
    println!("  first service id: {}", first_service.unwrap_or_default());
    println!();
    println!("  The secret is shown only now. A signed request, valid for 5 minutes:");
    println!();
    println!("  curl -s {base}/api/v1/balance \\");
    println!("    -H 'X-API-Key: {}' \\", record.api_key);
    println!("    -H 'X-Timestamp: {timestamp}' \\");
    println!("    -H 'X-Signature: sha256={signature}'");
    println!();
    Ok(())
}
