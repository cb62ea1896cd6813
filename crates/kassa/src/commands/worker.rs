//! `kassa worker`: the background work without the HTTP API, for nodes that split the roles.

use anyhow::Result;

use crate::cli::BackgroundArgs;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: BackgroundArgs) -> Result<()> {
    let vault = settings.vault()?;
    let store = settings.open_store(settings.currency(None, None)?).await?;
    println!("database: {}", store.describe());
    let background = super::background::Background::start(store, vault, &args)?;
    println!("kassa worker running (fulfilment and webhooks); Ctrl-C to stop");
    super::serve::shutdown_signal().await;
    background.stop().await;
    Ok(())
}
