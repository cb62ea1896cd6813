//! `kassa admin ...`: the operator's commands. They work on the database directly (the same
//! `Store` the server uses), so they need no running server and keep every rule of the store.

mod books;
mod customer;
pub mod key;
mod order;
pub mod provider;
mod refill;
mod service;
mod verification;
mod wallet;
mod webhook;

use anyhow::Result;

use crate::cli::AdminCommand;
use crate::settings::Settings;

pub async fn run(settings: &Settings, command: AdminCommand) -> Result<()> {
    let store = settings.open_store(settings.currency(None, None)?).await?;
    match command {
        AdminCommand::Customer(c) => customer::run(store.as_ref(), c).await,
        AdminCommand::Wallet(c) => wallet::run(store.as_ref(), c).await,
        AdminCommand::Key(c) => key::run(settings, store.as_ref(), c).await,
        AdminCommand::Service(c) => service::run(store.as_ref(), c).await,
        AdminCommand::Order(c) => order::run(store.as_ref(), c).await,
        AdminCommand::Verification(c) => verification::run(settings, store.as_ref(), c).await,
        AdminCommand::Provider(c) => provider::run(settings, store.as_ref(), c).await,
        AdminCommand::Refill(c) => refill::run(store.as_ref(), c).await,
        AdminCommand::Webhook(c) => webhook::run(settings, store.as_ref(), c).await,
        AdminCommand::Books { json } => books::run(store.as_ref(), json).await,
    }
}
