//! The server under test: `kassa serve` as its own process (the load generator must not share
//! its runtime), its address, and its memory and CPU time as the kernel counts them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    peak_rss_kib: Arc<AtomicU64>,
    sampling: Arc<AtomicBool>,
}

/// `VmRSS` and `VmHWM` (the kernel's own peak) of a process, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user and system, all threads) a process has used so far, in seconds: fields 14 and
/// 15 of `/proc/<pid>/stat`, in clock ticks of 1/100 s (Linux's `USER_HZ` on every architecture
/// kassa builds for).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

/// Starts measuring the CPU time of `pids` over the load's measured window (`warmup`, then
/// `duration`); the thread answers each process's seconds of CPU in that window, or `None` where
/// `/proc` could not tell.
pub fn cpu_in_window(
    pids: Vec<u32>,
    warmup: Duration,
    duration: Duration,
) -> std::thread::JoinHandle<Vec<Option<f64>>> {
    std::thread::spawn(move || {
        std::thread::sleep(warmup);
        let before: Vec<Option<f64>> = pids.iter().map(|&pid| cpu_secs(pid)).collect();
        std::thread::sleep(duration);
        pids.iter().zip(before).map(|(&pid, before)| Some(cpu_secs(pid)? - before?)).collect()
    })
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `kassa serve --no-worker` on a free loopback port with `env` and `extra` flags,
    /// and waits until it listens.
    pub fn start(env: &[(String, String)], extra: &[String]) -> Result<Self> {
        let exe = std::env::current_exe().context("finding the kassa binary")?;
        let mut child = Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--no-worker"])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KASSA_LOG", std::env::var("KASSA_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting kassa serve")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("kassa listening on http://") {
                        break rest.trim().parse::<SocketAddr>().context("the server's address")?;
                    }
                }
                _ => {
                    let status = child.wait()?;
                    bail!("kassa serve stopped before listening ({status})");
                }
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});

        let peak_rss_kib = Arc::new(AtomicU64::new(0));
        let sampling = Arc::new(AtomicBool::new(true));
        let (peak, on, pid) = (peak_rss_kib.clone(), sampling.clone(), child.id());
        std::thread::spawn(move || {
            while on.load(Ordering::Relaxed) {
                if let Some((rss, _)) = memory_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Ok(Self { child, addr, peak_rss_kib, sampling })
    }

    /// The largest resident size seen by sampling, and the kernel's high-water mark, in MiB.
    pub fn memory_mib(&self) -> (f64, f64) {
        let sampled = self.peak_rss_kib.load(Ordering::Relaxed);
        let hwm = memory_kib(self.child.id()).map(|(_, hwm)| hwm).unwrap_or(sampled);
        (sampled as f64 / 1024.0, hwm.max(sampled) as f64 / 1024.0)
    }

    /// Stops the server the way an operator would (SIGTERM: finish what is in flight).
    pub fn stop(mut self) -> Result<()> {
        self.sampling.store(false, Ordering::Relaxed);
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// A run that fails between start and stop (an error, a failed books check) must not leave its
/// server running behind it.
impl Drop for Server {
    fn drop(&mut self) {
        self.sampling.store(false, Ordering::Relaxed);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
