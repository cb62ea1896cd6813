use anyhow::{bail, Context, Result};
use kassa_core::{CustomerId, OrderId, OrderStatus};
use kassa_store::{OrderFilter, Resolution, StatusChange, Store, Upstream};
use serde_json::json;

use crate::cli::OrderCommand;
use crate::output::{self, emit};

fn order_id(text: &str) -> Result<OrderId> {
    text.parse::<OrderId>().with_context(|| format!("{text:?}"))
}

pub async fn run(store: &dyn Store, command: OrderCommand) -> Result<()> {
    let currency = store.currency().clone();
    let (id, change, json) = match command {
        OrderCommand::List { customer, status, page, limit, json } => {
            // --status takes an order status or an upstream state (needs_review, queued, ...).
            let (status, upstream) = match status.as_deref() {
                None => (None, None),
                Some(text) => match (text.parse::<OrderStatus>(), text.parse::<Upstream>()) {
                    (Ok(status), _) => (Some(status), None),
                    (_, Ok(upstream)) => (None, Some(upstream)),
                    (Err(e), Err(_)) => {
                        bail!("{e}; or an upstream state: needs_review, queued, submitting, submitted, manual, closed")
                    }
                },
            };
            let filter = OrderFilter {
                customer_id: customer.map(CustomerId),
                status,
                upstream,
                page: page.max(1),
                limit: limit.clamp(1, 1000),
            };
            let result = store.list_orders(filter).await?;
            let value = json!({
                "orders": result.orders.iter().map(|o| output::order(&currency, o)).collect::<Vec<_>>(),
                "page": page.max(1),
                "limit": limit.clamp(1, 1000),
                "total": result.total,
            });
            emit(json, &value, || {
                let mut lines: Vec<String> = result
                    .orders
                    .iter()
                    .map(|o| {
                        format!(
                            "{}  #{:<6} customer {:<5} {:<11} {:<12} {:>10} {}  service {} x{}",
                            o.id,
                            o.seq,
                            o.customer_id,
                            o.status,
                            o.upstream,
                            currency.format(o.charge),
                            currency.code(),
                            o.service_id,
                            o.quantity
                        )
                    })
                    .collect();
                lines.push(format!("{} of {} orders", result.orders.len(), result.total));
                lines.join("\n")
            });
            return Ok(());
        }
        OrderCommand::Show { id, json } => {
            let id = order_id(&id)?;
            let Some(order) = store.order(None, &id).await? else { bail!("order {id} not found") };
            emit(json, &output::order(&currency, &order), || describe(&currency, &order));
            return Ok(());
        }
        OrderCommand::SetStatus { id, status, json } => {
            let status: OrderStatus = status.parse()?;
            if !matches!(status, OrderStatus::Processing | OrderStatus::InProgress | OrderStatus::Completed) {
                bail!("set-status moves an order to processing, in_progress or completed; use partial, cancel or refund for the others");
            }
            (id, StatusChange { status: Some(status), ..Default::default() }, json)
        }
        // A refund of an order a provider has or may have needs --confirm; the store decides
        // on the order as it is in the changing transaction (see `operator_change_allowed`).
        OrderCommand::Partial { id, remains, confirm, json } => (
            id,
            StatusChange {
                status: Some(OrderStatus::Partial),
                remains: Some(remains),
                provider_will_not_deliver: confirm,
                ..Default::default()
            },
            json,
        ),
        OrderCommand::Cancel { id, confirm, json } => (
            id,
            StatusChange {
                status: Some(OrderStatus::Canceled),
                provider_will_not_deliver: confirm,
                ..Default::default()
            },
            json,
        ),
        OrderCommand::Attach { id, provider_order, json } => {
            let provider_order = provider_order.trim().to_string();
            if provider_order.is_empty() || provider_order.len() > 64 {
                bail!("--provider-order is the provider's order id (1 to 64 characters)");
            }
            let order =
                store.resolve_review(&order_id(&id)?, Resolution::Attach { provider_order_id: provider_order }).await?;
            emit(json, &output::order(&currency, &order), || describe(&currency, &order));
            return Ok(());
        }
        OrderCommand::Requeue { id, confirm, json } => {
            if !confirm {
                bail!("sending an order again needs --confirm: do it only if the provider surely does not have it");
            }
            let order = store.resolve_review(&order_id(&id)?, Resolution::Requeue).await?;
            emit(json, &output::order(&currency, &order), || describe(&currency, &order));
            return Ok(());
        }
        OrderCommand::Dismiss { id, json } => {
            let order = store.resolve_review(&order_id(&id)?, Resolution::Dismiss).await?;
            emit(json, &output::order(&currency, &order), || describe(&currency, &order));
            return Ok(());
        }
        OrderCommand::Refund { id, confirm, json } => {
            if !confirm {
                bail!("refunding a completed order needs --confirm");
            }
            (id, StatusChange { status: Some(OrderStatus::Refunded), ..Default::default() }, json)
        }
    };
    let id = order_id(&id)?;
    // Repeating a final status is a no-op in the store (provider syncs repeat themselves); an
    // operator asking for it twice gets told that nothing more was paid.
    if let (Some(target), Some(current)) = (change.status, store.order(None, &id).await?) {
        if target.is_final() && current.status == target {
            bail!("order {id} is already {target}; its refund was paid once and is not paid again");
        }
    }
    let order = store.change_order(&id, change).await?;
    emit(json, &output::order(&currency, &order), || describe(&currency, &order));
    Ok(())
}

fn describe(currency: &kassa_core::Currency, o: &kassa_store::OrderRecord) -> String {
    format!(
        "{} (#{}) customer {}: {} (upstream {}{}), charge {}, refunded {}, service {} x{}, link {}",
        o.id,
        o.seq,
        o.customer_id,
        o.status,
        o.upstream,
        o.last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default(),
        output::money_text(currency, o.charge),
        output::money_text(currency, o.refunded),
        o.service_id,
        o.quantity,
        o.link
    )
}
