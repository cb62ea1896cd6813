use anyhow::{bail, Result};
use kassa_core::CustomerId;
use kassa_store::{CustomerStatus, NewCustomer, Store};
use serde_json::json;

use crate::cli::CustomerCommand;
use crate::output::{self, emit};

pub async fn run(store: &dyn Store, command: CustomerCommand) -> Result<()> {
    match command {
        CustomerCommand::Create { email, first_name, last_name, phone, json } => {
            let email = email.trim().to_string();
            if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
                bail!("{email:?} is not an email address");
            }
            let customer = store.create_customer(NewCustomer { email, first_name, last_name, phone }).await?;
            let mut value = output::customer(&customer);
            value["balance"] = json!(kassa_store::present::money(store.currency(), kassa_core::Minor::ZERO));
            value["currency"] = json!(store.currency().code());
            emit(json, &value, || {
                format!("created customer {} ({}) with an empty wallet", customer.id, customer.email)
            });
        }
        CustomerCommand::List { json } => {
            let customers = store.list_customers().await?;
            let value = json!({ "customers": customers.iter().map(output::customer).collect::<Vec<_>>() });
            emit(json, &value, || {
                customers
                    .iter()
                    .map(|c| format!("{:>6}  {:<8} {:<9} {}", c.id, c.user_id, c.status, c.email))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        CustomerCommand::Show { id, json } => {
            let Some(customer) = store.customer(CustomerId(id)).await? else { bail!("customer {id} not found") };
            let wallet = store.wallet(customer.id).await?;
            let mut value = output::customer(&customer);
            value["balance"] = json!(kassa_store::present::money(store.currency(), wallet.balance));
            value["currency"] = json!(store.currency().code());
            emit(json, &value, || {
                format!(
                    "customer {} ({}), {}, balance {}",
                    customer.id,
                    customer.email,
                    customer.status,
                    output::money_text(store.currency(), wallet.balance)
                )
            });
        }
        CustomerCommand::Disable { id, json } => set_status(store, id, CustomerStatus::Disabled, json).await?,
        CustomerCommand::Enable { id, json } => set_status(store, id, CustomerStatus::Active, json).await?,
    }
    Ok(())
}

async fn set_status(store: &dyn Store, id: i64, status: CustomerStatus, json: bool) -> Result<()> {
    let customer = store.set_customer_status(CustomerId(id), status).await?;
    emit(json, &output::customer(&customer), || format!("customer {} is now {}", customer.id, customer.status));
    Ok(())
}
