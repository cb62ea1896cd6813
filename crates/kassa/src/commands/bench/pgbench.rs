//! The yardstick for the PostgreSQL store: `pgbench -b tpcb-like` (five statements and one
//! commit per transaction) at the same client count, against the same server, in the same run.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Pgbench {
    pub clients: usize,
    pub scale: usize,
    pub seconds: u64,
    /// Transactions per second, without the initial connection time.
    pub tps: f64,
    /// `fsync` and `synchronous_commit` of the server, as it reported them.
    pub fsync: String,
    pub synchronous_commit: String,
}

fn postgres_tool(name: &str) -> Result<PathBuf> {
    if Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Ok(PathBuf::from(name));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin").join(name))
        .filter(|path| path.exists())
        .collect();
    found.sort();
    found.pop().with_context(|| format!("{name} is not installed (Debian: postgresql-client / postgresql)"))
}

/// Runs `sql` with `psql` and returns what it printed (unaligned, tuples only).
pub fn psql(url: &str, sql: &str) -> Result<String> {
    let output = Command::new(postgres_tool("psql")?).args([url, "-Atc", sql]).output()?;
    if !output.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Writes every dirty page out now. Both sides of the comparison start right after one, so that
/// neither measures a checkpoint of what came before it (pgbench's load of millions of rows, or
/// pgbench's own run) while the other does not.
pub fn checkpoint(url: &str) -> Result<()> {
    psql(url, "CHECKPOINT").context("CHECKPOINT before a measured run (needs a superuser or pg_checkpoint)")?;
    Ok(())
}

/// One setting of the server (`SHOW name`).
pub fn setting(url: &str, name: &str) -> Result<String> {
    psql(url, &format!("SHOW {name}"))
}

pub fn run(url: &str, clients: usize, duration: Duration) -> Result<Pgbench> {
    let pgbench = postgres_tool("pgbench")?;
    // The usual rule: a scale at least the client count, so clients do not queue on a few rows.
    let scale = clients.clamp(1, 64);
    let branches = psql(url, "SELECT count(*) FROM pgbench_branches").ok().and_then(|n| n.parse::<usize>().ok());
    if branches != Some(scale) {
        eprintln!("  pgbench: initializing at scale {scale}");
        let status = Command::new(&pgbench).args(["-i", "-q", "-s", &scale.to_string(), url]).status()?;
        if !status.success() {
            bail!("pgbench -i failed");
        }
    }
    checkpoint(url)?;
    let seconds = duration.as_secs().max(1);
    eprintln!("  pgbench: -b tpcb-like -c {clients} for {seconds}s");
    let output = Command::new(&pgbench)
        .args(["-b", "tpcb-like", "-M", "prepared", "-n"])
        .args(["-c", &clients.to_string(), "-j", &clients.min(2).to_string(), "-T", &seconds.to_string(), url])
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}{}", text, String::from_utf8_lossy(&output.stderr));
    }
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no tps in pgbench's output:\n{text}"))?;
    Ok(Pgbench {
        clients,
        scale,
        seconds,
        tps,
        fsync: setting(url, "fsync")?,
        synchronous_commit: setting(url, "synchronous_commit")?,
    })
}
