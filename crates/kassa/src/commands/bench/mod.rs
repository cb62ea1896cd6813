//! `kassa bench`: one measured scenario, end to end.
//!
//! 1. A database: the one given (`--database-url`, `--data-dir`), else a fresh SQLite file in a
//!    temporary directory.
//! 2. Funded wallets with keys and a service, written through the store; optionally a table of
//!    existing orders (`--preload`; on PostgreSQL vacuumed and analyzed afterwards, as
//!    `pgbench -i` does after its load).
//! 3. With `--pgbench` on PostgreSQL: `pgbench -b tpcb-like` at the same client count first.
//!    Each of the two measured runs starts right after a `CHECKPOINT`, so neither pays for a
//!    checkpoint of what the other (or pgbench's load) wrote.
//! 4. `kassa serve` as its own process, and the load from this one (`kassa-bench`), signed like
//!    a real client; the server's memory is sampled throughout.
//! 5. For scenarios that place orders: the books. Orders created must equal the 201 answers,
//!    what left the wallets must equal the charges answered, no balance below zero, every
//!    wallet equal to its ledger. A discrepancy fails the command.
//!
//! The report is one JSON object on stdout (and in `--report FILE`); progress goes to stderr.

mod books;
mod pgbench;
mod seed;
mod server;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use kassa_bench::{Mode, Plan, Scenario};
use serde_json::json;

use crate::cli::{BenchArgs, GlobalArgs};
use crate::settings::{Database, Settings};

/// Each wallet's funds: far more than any run can spend.
const WALLET_FUNDS: &str = "1000000000";

pub async fn run(global: &GlobalArgs, args: BenchArgs) -> Result<()> {
    let scenarios = args
        .scenario
        .split(',')
        .map(|name| {
            Scenario::parse(name.trim()).with_context(|| {
                let all: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario {name:?}; one of {}", all.join(", "))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    anyhow::ensure!(args.duration > 0.0 && args.warmup >= 0.0, "--duration must be positive");
    // Without a database of the caller's, a fresh one that goes away afterwards.
    let scratch = tempfile::tempdir().context("a temporary directory")?;
    let mut global = global.clone();
    if global.database_url.is_none() && global.data_dir.is_none() {
        global.data_dir = Some(scratch.path().join("data"));
    }
    let settings = Settings::resolve(&global)?;
    let store = settings.open_store(None).await?;
    let vault = settings.vault()?;
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();

    let names: Vec<&str> = scenarios.iter().map(|s| s.name()).collect();
    eprintln!("==> {} on {}", names.join(", "), store.describe());
    let wallets = if scenarios == [Scenario::OrdersHot] { 1 } else { args.wallets.max(1) };
    eprintln!("  seeding {wallets} funded wallets with keys");
    let mut seeded = seed::wallets(store.clone(), vault, wallets, WALLET_FUNDS, run_id).await?;
    if args.preload > 0 {
        eprintln!("  placing {} existing orders", args.preload);
        seed::orders(store.clone(), &mut seeded, args.preload, run_id).await?;
        if let Database::Postgres(url) = &settings.database {
            // As `pgbench -i` does after its load: measure reads on a table of this size, not on
            // one whose fresh rows autovacuum is still working through during the run.
            eprintln!("  vacuuming and analyzing the tables after the load");
            pgbench::psql(url, "VACUUM ANALYZE orders, ledger_entries, order_counts, wallets")?;
        }
    }

    let (database_env, durability) = match &settings.database {
        Database::Sqlite(path) => {
            (format!("sqlite://{}", path.display()), json!({"sqlite": "WAL, synchronous=FULL (set by kassa)"}))
        }
        Database::Postgres(url) => (
            url.clone(),
            json!({"fsync": pgbench::setting(url, "fsync").ok(), "synchronous_commit": pgbench::setting(url, "synchronous_commit").ok()}),
        ),
    };
    let pgbench = match (&settings.database, args.pgbench) {
        (Database::Postgres(url), true) => Some(pgbench::run(url, args.concurrency, secs(args.duration))?),
        (_, true) => bail!("--pgbench needs a PostgreSQL --database-url"),
        _ => None,
    };
    if let (Some(pgbench), Database::Postgres(url)) = (&pgbench, &settings.database) {
        eprintln!("  pgbench tpcb-like: {:.0} tps", pgbench.tps);
        pgbench::checkpoint(url)?;
    }

    let mut env = vec![("KASSA_DATABASE_URL".to_string(), database_env)];
    if let Some(dir) = &global.data_dir {
        env.push(("KASSA_DATA_DIR".into(), dir.display().to_string()));
    }
    env.push(("KASSA_MASTER_KEY".into(), settings.master_key()?.to_hex()));
    let server = server::Server::start(&env, &args.server_args)?;
    eprintln!(
        "  server at {}; {}, {}s measured after {}s of warm-up",
        server.addr,
        describe_mode(&args),
        args.duration,
        args.warmup
    );

    let mut reports = Vec::new();
    let mut unbalanced = None;
    for scenario in scenarios {
        let before = books::snapshot(store.as_ref(), &seeded.customers).await?;
        let plan = Plan {
            scenario,
            addr: server.addr,
            accounts: seeded.accounts.clone(),
            service_id: seeded.service_id,
            quantity: 1000,
            concurrency: args.concurrency,
            mode: args.rate.map_or(Mode::Closed, |rate| Mode::Open { rate }),
            duration: secs(args.duration),
            warmup: secs(args.warmup),
            seed: run_id,
        };
        let cpu = server::cpu_in_window(vec![server.pid(), std::process::id()], plan.warmup, plan.duration);
        let outcome = load(plan, args.client_threads).await?;
        // CPU per answered request in the measured window: steadier from run to run than
        // throughput on a shared machine, and it says which side a change moved.
        let per_request = |cpu: Option<f64>| {
            cpu.filter(|_| outcome.requests > 0).map(|secs| round1(secs * 1e6 / outcome.requests as f64))
        };
        let (server_cpu, load_cpu) = match cpu.join().as_deref() {
            Ok([server, load]) => (per_request(*server), per_request(*load)),
            _ => (None, None),
        };
        let (rss_sampled, rss_peak) = server.memory_mib();
        let books = if scenario.places_orders() {
            let after = books::snapshot(store.as_ref(), &seeded.customers).await?;
            Some(books::check(&store, before, after, &outcome).await?)
        } else {
            None
        };
        eprintln!(
            "  {}: {:.0} req/s, p50 {} µs, p99 {} µs, p99.9 {} µs; server peak RSS {:.1} MiB",
            scenario.name(),
            outcome.throughput,
            outcome.latency_us.p50,
            outcome.latency_us.p99,
            outcome.latency_us.p999,
            rss_peak
        );
        if let (Some(server_cpu), Some(load_cpu)) = (server_cpu, load_cpu) {
            eprintln!("  CPU per request: server {server_cpu} µs, load generator {load_cpu} µs");
        }
        if let Some(books) = &books {
            if books.ok {
                eprintln!(
                    "  books: {} orders answered = {} in the database; charges = debits = {}",
                    books.answered_created, books.orders_in_database, books.charged
                );
            } else {
                unbalanced = Some(serde_json::to_string(books)?);
            }
        }
        reports.push(json!({
            "scenario": scenario.name(),
            "store": match store.kind() {
                kassa_store::StoreKind::Sqlite => "sqlite",
                kassa_store::StoreKind::Postgres => "postgres",
            },
            "database": store.describe(),
            "durability": durability,
            "mode": if args.rate.is_some() { "open" } else { "closed" },
            "rate": args.rate,
            "concurrency": args.concurrency,
            "client_threads": args.client_threads,
            "duration_secs": args.duration,
            "warmup_secs": args.warmup,
            "wallets": wallets,
            "orders_in_table": before.orders(),
            "result": outcome,
            "server_rss_mib": {"peak_sampled": round1(rss_sampled), "high_water_mark": round1(rss_peak)},
            "cpu_us_per_request": {"server": server_cpu, "load_generator": load_cpu},
            "books": books,
            "pgbench": pgbench,
            "server_args": args.server_args,
            "machine": machine(),
        }));
    }
    server.stop()?;

    let report = if reports.len() == 1 { reports.remove(0) } else { serde_json::Value::Array(reports) };
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{text}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(books) = unbalanced {
        bail!("THE BOOKS DO NOT BALANCE: {books}");
    }
    Ok(())
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn describe_mode(args: &BenchArgs) -> String {
    match args.rate {
        Some(rate) => format!("open loop at {rate} req/s over {} connections", args.concurrency),
        None => format!("closed loop, {} clients", args.concurrency),
    }
}

/// Runs the load on its own runtime with `threads` threads, so the generator's share of the
/// machine is fixed and known.
async fn load(plan: Plan, threads: usize) -> Result<kassa_bench::Outcome> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = match threads {
            0 | 1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
            n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
        };
        let outcome = match runtime {
            Ok(runtime) => runtime.block_on(kassa_bench::run(plan)).map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::Error::from(e)),
        };
        let _ = done.send(outcome);
    });
    result.await.context("the load generator stopped")?
}

/// The machine the figures come from.
fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
        text.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
    });
    let memory_gib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        text.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
    });
    json!({
        "nproc": cpus,
        "cpu_model": model,
        "memory_gib": memory_gib.map(|kib| round1(kib / 1024.0 / 1024.0)),
        "kassa_version": env!("CARGO_PKG_VERSION"),
    })
}
