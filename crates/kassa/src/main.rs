//! The `kassa` binary: parse the command line, set up logging, run the subcommand.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod output;
mod settings;

use clap::Parser;

use crate::cli::{Cli, Command, LogFormat};
use crate::settings::Settings;

fn init_logging(format: LogFormat) {
    // KASSA_LOG takes tracing directives (`info`, `kassa_server=debug`); the default keeps
    // per-request lines out of production logs.
    let filter = kassa_server::logging::filter(std::env::var("KASSA_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        print!("{}", kassa_server::api::openapi::json());
        return std::process::ExitCode::SUCCESS;
    }
    let settings = match Settings::resolve(&cli.global) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("kassa: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kassa: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => commands::serve::run(&settings, args).await,
            Command::Migrate => commands::migrate::run(&settings).await,
            Command::Admin(command) => commands::admin::run(&settings, command).await,
            Command::Worker(args) => commands::worker::run(&settings, args).await,
            Command::ProviderSim(args) => commands::provider_sim::run(args).await,
            Command::Api(args) => commands::api::run(args).await,
            Command::Openapi => unreachable!("answered before the runtime starts"),
            Command::Bench(args) => commands::bench::run(&cli.global, args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kassa: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
