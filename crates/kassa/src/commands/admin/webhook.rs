use anyhow::{Context, Result};
use kassa_core::CustomerId;
use kassa_server::webhooks::{check_url, secret_context};
use kassa_store::{present, DeliveryFilter, DeliveryRecord, DeliveryState, NewWebhook, Store, WebhookRecord};
use serde_json::json;

use crate::cli::WebhookCommand;
use crate::output::emit;
use crate::settings::Settings;

fn endpoint(w: &WebhookRecord) -> serde_json::Value {
    json!({
        "id": w.id,
        "customer_id": w.customer_id.0,
        "url": w.url,
        "active": w.active,
        "created_at": present::rfc3339(w.created_at),
    })
}

fn delivery(d: &DeliveryRecord) -> serde_json::Value {
    json!({
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "message_id": d.message_id,
        "event_type": d.event_type,
        "state": d.state.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.map(present::rfc3339),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": present::rfc3339(d.created_at),
        "payload": serde_json::from_str::<serde_json::Value>(&d.payload).unwrap_or(json!(d.payload)),
    })
}

pub async fn run(settings: &Settings, store: &dyn Store, command: WebhookCommand) -> Result<()> {
    match command {
        WebhookCommand::Add { customer, url, allow_private, json } => {
            let url = check_url(url.trim(), allow_private).map_err(anyhow::Error::msg).context("webhook URL")?;
            let secret = kassa_wire::sign::webhook::secret_from_bytes(&kassa_core::ids::random_bytes::<24>());
            let vault = settings.vault()?;
            let sealed = vault.seal(secret.as_bytes(), &secret_context(customer, url.as_str()));
            let record = store
                .create_webhook(NewWebhook {
                    customer_id: CustomerId(customer),
                    url: url.to_string(),
                    secret_sealed: sealed,
                })
                .await?;
            let mut value = endpoint(&record);
            value["secret"] = json!(secret);
            emit(json, &value, || {
                format!(
                    "webhook {} → {}\nsigning secret: {secret}\n(the secret is shown only now)",
                    record.id, record.url
                )
            });
        }
        WebhookCommand::List { customer, json } => {
            let records = store.webhooks(customer.map(CustomerId)).await?;
            let value = json!({ "webhooks": records.iter().map(endpoint).collect::<Vec<_>>() });
            emit(json, &value, || {
                records
                    .iter()
                    .map(|w| format!("{:>4}  customer {:<6} {}", w.id, w.customer_id, w.url))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        WebhookCommand::Remove { id, json } => {
            store.delete_webhook(None, id).await?;
            emit(json, &json!({"id": id, "removed": true}), || {
                format!("webhook {id} removed; its pending deliveries failed")
            });
        }
        WebhookCommand::Deliveries { endpoint: endpoint_id, customer, status, limit, json } => {
            let state = status.as_deref().map(str::parse::<DeliveryState>).transpose().map_err(anyhow::Error::msg)?;
            let filter = DeliveryFilter {
                endpoint_id,
                customer_id: customer.map(CustomerId),
                state,
                limit: limit.clamp(1, 1000),
            };
            let records = store.deliveries(filter).await?;
            let value = json!({ "deliveries": records.iter().map(delivery).collect::<Vec<_>>() });
            emit(json, &value, || {
                records
                    .iter()
                    .map(|d| {
                        format!(
                            "{:>6}  endpoint {:<4} {:<9} attempts {:<2} last {}  {}",
                            d.id,
                            d.endpoint_id,
                            d.state,
                            d.attempts,
                            d.last_status.map(|s| s.to_string()).or(d.last_error.clone()).unwrap_or("-".into()),
                            d.message_id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        WebhookCommand::Replay { id, json } => {
            let record = store.replay_delivery(id).await?;
            emit(json, &delivery(&record), || format!("delivery {} queued again", record.id));
        }
    }
    Ok(())
}
