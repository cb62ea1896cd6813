//! Database and cache servers a single test owns, for tests that stop and start them. The shared
//! ones (`KASSA_TEST_DATABASE_URL`, `KASSA_TEST_REDIS_URL`) are never stopped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// The shared Redis the cluster tests use.
pub fn redis_url() -> String {
    std::env::var("KASSA_TEST_REDIS_URL")
        .expect("KASSA_TEST_REDIS_URL must name a Redis server for the rate-limit tests; scripts/test.sh starts one")
}

/// A PostgreSQL cluster of one test's own, in a temporary directory.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl OwnPostgres {
    pub fn start() -> Self {
        let bin = std::env::var("KASSA_TEST_PG_BIN")
            .map(PathBuf::from)
            .ok()
            .or_else(|| {
                let mut dirs: Vec<PathBuf> =
                    std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path().join("bin")).collect();
                dirs.sort();
                dirs.pop()
            })
            .expect("PostgreSQL binaries (initdb, pg_ctl) are needed; scripts/test.sh installs them");
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let ok = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).status().unwrap().success();
            assert!(ok, "chown the cluster directory to postgres");
        }
        let this = Self { bin, dir, port: free_port() };
        let data = this.data_dir();
        assert!(
            this.pg(&["initdb", "-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"]).success(),
            "initdb failed"
        );
        this.ctl_start();
        this
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg(&self, args: &[&str]) -> std::process::ExitStatus {
        let program = self.bin.join(args[0]);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.args(&args[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run a PostgreSQL tool")
    }

    fn ctl_start(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        assert!(
            self.pg(&["pg_ctl", "-D", &self.data_dir(), "-l", &log, "-w", "-o", &options, "start"]).success(),
            "pg_ctl start"
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (fast shutdown: connections are cut).
    pub fn stop(&self) {
        assert!(self.pg(&["pg_ctl", "-D", &self.data_dir(), "-m", "fast", "-w", "stop"]).success(), "pg_ctl stop");
    }

    pub fn start_again(&self) {
        self.ctl_start();
    }

    /// Stops every process of the cluster with SIGSTOP (or resumes them with SIGCONT): the
    /// database hangs, connections stay open, nothing is refused.
    pub fn signal_all(&self, signal: &str) {
        let pid_file = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).expect("postmaster.pid");
        let postmaster = pid_file.lines().next().expect("a pid").trim().to_string();
        assert!(Command::new("kill").args([signal, &postmaster]).status().unwrap().success(), "kill {signal}");
        let _ = Command::new("pkill").args([signal, "-P", &postmaster]).status();
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.pg(&["pg_ctl", "-D", &self.data_dir(), "-m", "immediate", "stop"]);
    }
}

/// A redis-server of one test's own.
pub struct OwnRedis {
    child: std::process::Child,
    pub port: u16,
}

impl OwnRedis {
    pub fn start() -> Self {
        let port = free_port();
        #[allow(clippy::zombie_processes)] // reaped in `stop` and `Drop`
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed; scripts/test.sh installs it");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
