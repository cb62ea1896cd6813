//! `kassa api order ...` and `kassa api orders`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use kassa_client::{Client, CreateOrderRequest, Error, Order};

use super::{fields, or_dash, table, Out};
use crate::cli::ApiOrderCommand;

pub(super) async fn run(client: &Client, out: &Out, command: ApiOrderCommand) -> Result<(), Error> {
    match command {
        ApiOrderCommand::Create { service, quantity, link, comments_file, client_order_ref, idempotency_key } => {
            let custom_comments = match comments_file {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| Error::Config(format!("cannot read the comments file {}: {e}", path.display())))?,
                ),
                None => None,
            };
            let request = CreateOrderRequest { service_id: service, quantity, link, client_order_ref, custom_comments };
            let placed = client.create_order(&request, idempotency_key.as_deref()).await?;
            let body = serde_json::json!({
                "success": true,
                "order": placed.order,
                "replayed": placed.replayed,
                "idempotency_key": placed.idempotency_key,
            });
            out.print(&body, || {
                let o = &placed.order;
                let mut rows = vec![
                    ("id", o.id.clone()),
                    ("number", o.woo_order_number.to_string()),
                    ("status", o.status.clone()),
                    ("charge", format!("{} {}", o.charge, o.currency)),
                    ("idempotency key", placed.idempotency_key.clone()),
                ];
                if placed.replayed {
                    rows.push(("replayed", "yes: this key placed the order earlier".into()));
                }
                fields(&rows)
            });
        }
        ApiOrderCommand::Get { id } => {
            let order = client.order(&id).await?;
            out.print(&serde_json::json!({"success": true, "order": order}), || show(&order));
        }
        ApiOrderCommand::Cancel { id } => {
            let answer = client.cancel_order(&id).await?;
            out.print(&answer, || {
                let what = if answer.cancel == "canceled" {
                    "canceled and refunded"
                } else {
                    "cancellation requested from the provider; the refund follows its answer"
                };
                format!("{}: {what}\n{}", answer.order.id, show(&answer.order))
            });
        }
        ApiOrderCommand::Refill { id, idempotency_key } => {
            let refill = client.refill_order(&id, idempotency_key.as_deref()).await?;
            out.print(&serde_json::json!({"success": true, "refill": refill}), || {
                format!("refill {} of {}: {}", refill.id, refill.order_id, refill.status)
            });
        }
    }
    Ok(())
}

fn show(o: &Order) -> String {
    fields(&[
        ("id", o.id.clone()),
        ("number", o.woo_order_number.to_string()),
        ("service", format!("{} ({})", o.service_name, o.service_id)),
        ("quantity", o.quantity.to_string()),
        ("link", o.link.clone()),
        ("ref", or_dash(o.client_order_ref.as_ref())),
        ("status", o.status.clone()),
        ("provider status", or_dash(o.smm_status.as_ref())),
        ("charge", format!("{} {}", o.charge, o.currency)),
        ("refunded", format!("{} {}", o.refunded, o.currency)),
        ("remains", or_dash(o.remains)),
        ("created", o.created_at.clone()),
        ("updated", o.updated_at.clone()),
    ])
}

/// One page, or with `all` every page from `page` on, with a progress bar on a terminal.
pub(super) async fn list(
    client: &Client,
    out: &Out,
    status: Option<&str>,
    page: u32,
    limit: u32,
    all: bool,
) -> Result<(), Error> {
    let first = client.orders(page, limit, status).await?;
    let total = first.total;
    let mut orders = first.orders;
    let mut last_page = page;
    if all {
        // Draws on stderr only when it is a terminal, so scripts' output stays clean.
        let progress = ProgressBar::new(total);
        progress.set_style(
            ProgressStyle::with_template("{spinner} fetching orders {pos}/{len} [{bar:30}] {eta}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        progress.enable_steady_tick(Duration::from_millis(120));
        progress.set_position(orders.len() as u64);
        while (orders.len() as u64) < total.saturating_sub(u64::from(page - 1) * u64::from(limit)) {
            last_page += 1;
            let next = client.orders(last_page, limit, status).await?;
            if next.orders.is_empty() {
                break; // orders were removed from the filter while paging
            }
            orders.extend(next.orders);
            progress.set_position(orders.len() as u64);
        }
        progress.finish_and_clear();
    }
    let body = serde_json::json!({"success": true, "orders": orders, "page": page, "limit": limit, "total": total});
    out.print(&body, || {
        let mut table = table(&["id", "created", "service", "quantity", "status", "charge", "refunded"]);
        for o in &orders {
            table.add_row(vec![
                o.id.clone(),
                o.created_at.clone(),
                o.service_id.to_string(),
                o.quantity.to_string(),
                o.status.clone(),
                format!("{} {}", o.charge, o.currency),
                o.refunded.to_string(),
            ]);
        }
        let pages = if all { format!("pages {page}-{last_page}") } else { format!("page {page}") };
        format!("{table}\n{} of {total} orders ({pages}, {limit} per page)", orders.len())
    });
    Ok(())
}
