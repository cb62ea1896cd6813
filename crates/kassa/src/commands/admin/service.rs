use anyhow::{Context, Result};
use kassa_core::catalog::ServiceKind;
use kassa_core::Price;
use kassa_store::{NewService, ServicePatch, Store};
use serde_json::json;

use crate::cli::ServiceCommand;
use crate::output::{self, emit};

fn price(text: &str) -> Result<Price> {
    text.parse::<Price>().with_context(|| format!("price_per_1000 {text:?}"))
}

fn kind(text: &str) -> Result<ServiceKind> {
    Ok(text.parse::<ServiceKind>()?)
}

pub async fn run(store: &dyn Store, command: ServiceCommand) -> Result<()> {
    let currency = store.currency().clone();
    match command {
        ServiceCommand::Create { name, category, kind: k, price_per_1000, min, max, json } => {
            let new = NewService { name, category, kind: kind(&k)?, price_per_1000: price(&price_per_1000)?, min, max };
            let service = store.create_service(new).await?;
            emit(json, &output::service(&currency, &service), || {
                format!(
                    "created service {} ({}), {} {} per 1000",
                    service.id,
                    service.name,
                    service.price_per_1000,
                    currency.code()
                )
            });
        }
        ServiceCommand::Update {
            id,
            name,
            category,
            kind: k,
            price_per_1000,
            min,
            max,
            active,
            provider,
            provider_service,
            no_provider,
            cancel_allowed,
            refill_allowed,
            json,
        } => {
            let provider = match (provider, provider_service, no_provider) {
                (Some(provider), Some(service), _) => {
                    let record = super::provider::find(store, &provider).await?;
                    Some(Some((record.id, service)))
                }
                (_, _, true) => Some(None),
                _ => None,
            };
            let patch = ServicePatch {
                provider,
                cancel_allowed,
                refill_allowed,
                name,
                category,
                kind: k.as_deref().map(kind).transpose()?,
                price_per_1000: price_per_1000.as_deref().map(price).transpose()?,
                min,
                max,
                active,
            };
            let service = store.update_service(id, patch).await?;
            emit(json, &output::service(&currency, &service), || {
                format!("updated service {} ({})", service.id, service.name)
            });
        }
        ServiceCommand::List { all, json } => {
            let services = store.services(!all).await?;
            let value =
                json!({ "services": services.iter().map(|s| output::service(&currency, s)).collect::<Vec<_>>() });
            emit(json, &value, || {
                services
                    .iter()
                    .map(|s| {
                        format!(
                            "{:>5}  {:<16} {:>10}/1000  {}-{}  {}{}",
                            s.id,
                            s.kind,
                            s.price_per_1000,
                            s.min,
                            s.max,
                            s.name,
                            if s.active { "" } else { "  (withdrawn)" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
