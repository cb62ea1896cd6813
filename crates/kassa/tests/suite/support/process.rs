//! The real `kassa` binary as a child process: for restarts, kills and the CLI contract.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_kassa")
}

/// The environment a kassa process of one test shares: its database and its data directory
/// (where the master key is generated on first start).
#[derive(Clone)]
pub struct KassaEnv {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub extra_env: Vec<(String, String)>,
}

impl KassaEnv {
    pub fn new(database_url: &str, data_dir: &Path) -> Self {
        Self { database_url: database_url.into(), data_dir: data_dir.into(), extra_env: Vec::new() }
    }

    /// The environment of a test database. The embedded store generates its master key file in
    /// the data directory; a shared database needs the key given, the same to every process.
    pub fn for_db(db: &super::TestDb) -> Self {
        let mut env = Self::new(&db.url(), &db.dir.path().join("data"));
        if db.backend == super::Backend::Postgres {
            env.extra_env.push(("KASSA_MASTER_KEY".into(), db.master_key.to_hex()));
        }
        env
    }

    /// The environment of a cluster of the test's own (one it may stop, start or freeze), with
    /// `settings` as environment variables, migrated.
    pub fn migrated_on(postgres: &super::services::OwnPostgres, data_dir: &Path, settings: &[(&str, &str)]) -> Self {
        let mut env = Self::new(&postgres.url(), data_dir);
        env.extra_env.push(("KASSA_MASTER_KEY".into(), kassa_core::crypto::MasterKey::generate().to_hex()));
        env.extra_env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        assert!(env.run(&["migrate"]).status.success(), "kassa migrate");
        env
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(binary());
        command
            .env_remove("KASSA_MASTER_KEY")
            .env("KASSA_DATABASE_URL", &self.database_url)
            .env("KASSA_DATA_DIR", &self.data_dir)
            .env("KASSA_LOG", "warn");
        for (k, v) in &self.extra_env {
            command.env(k, v);
        }
        command
    }

    /// Runs `kassa <args>` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run kassa")
    }

    /// Runs `kassa <args> --json` and parses its one JSON object; panics with stderr on failure.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--json");
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "kassa {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("kassa {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
        })
    }

    pub fn serve(&self, extra_args: &[&str]) -> KassaProcess {
        KassaProcess::start(self, extra_args, None)
    }

    /// Like [`serve`](Self::serve), with the process's log (stderr) written to `log`.
    pub fn serve_logged(&self, extra_args: &[&str], log: &Path) -> KassaProcess {
        KassaProcess::start(self, extra_args, Some(log))
    }
}

/// What [`KassaEnv::seed`] made: a funded customer, a service and a key.
#[derive(Clone)]
pub struct Seeded {
    pub customer: i64,
    pub service: i64,
    pub api_key: String,
    pub secret: String,
}

impl Seeded {
    /// An SDK client for `base_url` that does not retry.
    pub fn client(&self, base_url: &str) -> kassa_client::Client {
        kassa_client::Client::with_retry(base_url, &self.api_key, &self.secret, kassa_client::RetryPolicy::none())
            .expect("client")
    }

    pub fn signer(&self, base_url: &str) -> super::raw::Signer {
        super::raw::Signer::new(base_url, &self.api_key, &self.secret)
    }
}

impl KassaEnv {
    /// Through the admin CLI: a customer with `balance`, a default service at `price` per 1000
    /// (quantities 1 to 100,000), and a key limited to `rate_limit` requests per minute.
    pub fn seed(&self, balance: &str, price: &str, rate_limit: u32) -> Seeded {
        let n = kassa_core::ids::random_token(b"abcdefghijklmnopqrstuvwxyz", 10);
        let customer = self.json(&["admin", "customer", "create", "--email", &format!("{n}@example.com")])["id"]
            .as_i64()
            .expect("customer id");
        if balance != "0" {
            self.json(&["admin", "wallet", "credit", "--customer", &customer.to_string(), "--amount", balance]);
        }
        let service = self.json(&[
            "admin",
            "service",
            "create",
            "--name",
            "S",
            "--category",
            "C",
            "--type",
            "default",
            "--price-per-1000",
            price,
            "--min",
            "1",
            "--max",
            "100000",
        ])["id"]
            .as_i64()
            .expect("service id");
        let key = self.json(&[
            "admin",
            "key",
            "create",
            "--customer",
            &customer.to_string(),
            "--rate-limit-per-minute",
            &rate_limit.to_string(),
        ]);
        Seeded {
            customer,
            service,
            api_key: key["api_key"].as_str().expect("api_key").to_string(),
            secret: key["api_secret"].as_str().expect("api_secret").to_string(),
        }
    }
}

pub struct KassaProcess {
    child: Child,
    pub base_url: String,
    /// Everything the process printed on stdout up to the listening line.
    pub banner: Vec<String>,
}

impl KassaProcess {
    pub fn start(env: &KassaEnv, extra_args: &[&str], log: Option<&Path>) -> Self {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra_args);
        Self::spawn(env, &args, "kassa listening on ", log)
    }

    /// Runs `kassa <args>` until it prints a line starting with `ready`; the rest of that line
    /// (an address) becomes `base_url`.
    pub fn spawn(env: &KassaEnv, args: &[&str], ready: &str, log: Option<&Path>) -> Self {
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("create log file")),
            None => Stdio::inherit(),
        };
        #[allow(clippy::zombie_processes)] // reaped by `Drop`, `kill` or `terminate`
        let mut child =
            env.command().args(args).stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn kassa serve");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    // Keep draining so the child never blocks on a full pipe.
                    continue;
                }
            }
        });
        let mut banner = Vec::new();
        loop {
            match lines_rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let found = line.strip_prefix(ready).map(str::to_string);
                    banner.push(line);
                    if let Some(url) = found {
                        return Self { child, base_url: url, banner };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("kassa {args:?} did not print {ready:?}; printed: {banner:?}");
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush — a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait for kassa")
    }
}

impl Drop for KassaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
