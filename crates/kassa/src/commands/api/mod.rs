//! `kassa api ...`: the SDK on the command line, for people (tables) and scripts (`--json`).
//! Reads the server and the credentials from `KASSA_BASE_URL`, `KASSA_API_KEY` and
//! `KASSA_API_SECRET`. An error answer is printed with its code and a hint, and the command
//! exits non-zero; with `--json` the error body itself is printed, for scripts to read.

mod order;
mod profile;

use anyhow::{bail, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use kassa_client::{Client, Error};
use serde::Serialize;

use crate::cli::{ApiArgs, ApiCommand};

pub async fn run(args: ApiArgs) -> Result<()> {
    let (Some(key), Some(secret)) = (args.api_key.as_deref(), args.api_secret.as_deref()) else {
        bail!(
            "set KASSA_API_KEY and KASSA_API_SECRET (or --api-key/--api-secret) to the key and secret of your account"
        );
    };
    let client = Client::new(&args.base_url, key, secret)?;
    let out = Out { json: args.json };
    let result = match args.command {
        ApiCommand::Balance => balance(&client, &out).await,
        ApiCommand::Services { category } => services(&client, &out, category.as_deref()).await,
        ApiCommand::Order(command) => order::run(&client, &out, command).await,
        ApiCommand::Orders { status, page, limit, all } => {
            order::list(&client, &out, status.as_deref(), page, limit, all).await
        }
        ApiCommand::Profile(command) => profile::run(&client, &out, command).await,
        ApiCommand::Time => time(&client, &out).await,
    };
    result.map_err(|e| out.failure(e))
}

/// Where answers go: stdout, as JSON or for people.
pub(super) struct Out {
    json: bool,
}

impl Out {
    /// Prints `value` as JSON, or `text()` for people.
    fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).expect("wire types serialize"));
        } else {
            println!("{}", text());
        }
    }

    /// An error, said usefully: the code and what to do, or (`--json`) the body as received.
    fn failure(&self, error: Error) -> anyhow::Error {
        if self.json {
            let body = match error.inner() {
                Error::Api(failure) => failure.body.as_ref().map(|b| serde_json::to_value(b).expect("serializes")),
                Error::Profile(failure) => Some(serde_json::json!({"success": false, "errors": failure.errors})),
                _ => None,
            };
            if let Some(body) = body {
                println!("{}", serde_json::to_string_pretty(&body).expect("serializes"));
            }
        }
        let mut text = error.to_string();
        if let Some(failure) = error.api() {
            if let Some(body) = &failure.body {
                for (name, value) in
                    [("min", body.min.map(|v| v.to_string())), ("max", body.max.map(|v| v.to_string()))]
                {
                    if let Some(value) = value {
                        text.push_str(&format!("\n  {name}: {value}"));
                    }
                }
                if let (Some(balance), Some(required)) = (&body.balance, &body.required) {
                    let currency = body.currency.as_deref().unwrap_or("");
                    text.push_str(&format!("\n  balance: {balance} {currency}, required: {required} {currency}"));
                }
                for (field, problem) in body.details.iter().flatten() {
                    text.push_str(&format!("\n  {field}: {}", problem.as_str().unwrap_or(&problem.to_string())));
                }
            }
            if let Some(hint) = failure.hint() {
                text.push_str(&format!("\nhint: {hint}"));
            }
            if let Some(id) = &failure.request_id {
                text.push_str(&format!("\nrequest id: {id}"));
            }
        } else if let Error::Network(_) = error.inner() {
            text.push_str("\nhint: is the server running at KASSA_BASE_URL?");
        }
        if let Some(key) = error.idempotency_key() {
            text.push_str(&format!(
                "\nhint: it may or may not have been done: run the same command with --idempotency-key {key} \
                 to learn which without doing it twice"
            ));
        }
        anyhow::anyhow!(text)
    }
}

/// A table with the house style.
fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(header.to_vec());
    table
}

/// `name  value` lines, for one record.
fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    rows.iter().map(|(name, value)| format!("{name:width$}  {value}")).collect::<Vec<_>>().join("\n")
}

fn or_dash(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

async fn balance(client: &Client, out: &Out) -> Result<(), Error> {
    let balance = client.balance().await?;
    out.print(&balance, || format!("{} {} (customer {})", balance.balance, balance.currency, balance.woo_customer_id));
    Ok(())
}

async fn services(client: &Client, out: &Out, category: Option<&str>) -> Result<(), Error> {
    let mut services = client.services().await?;
    if let Some(category) = category {
        services.retain(|s| s.category.eq_ignore_ascii_case(category));
    }
    out.print(&serde_json::json!({"success": true, "services": services}), || {
        let mut table = table(&["id", "name", "category", "type", "per 1000", "min", "max"]);
        for s in &services {
            table.add_row(vec![
                s.id.to_string(),
                s.name.clone(),
                s.category.clone(),
                s.kind.clone(),
                format!("{} {}", s.price_per_1000, s.currency),
                s.min.to_string(),
                s.max.to_string(),
            ]);
        }
        table.to_string()
    });
    Ok(())
}

async fn time(client: &Client, out: &Out) -> Result<(), Error> {
    let time = client.server_time().await?;
    let skew = client.sync_clock().await?;
    out.print(&time, || format!("{} (this machine is {} ms off)", time.iso, skew.as_millis()));
    Ok(())
}
