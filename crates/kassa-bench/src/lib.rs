//! kassa's load generator. It signs every request like a real client (a fresh HMAC per request,
//! a fresh idempotency key per order), keeps one HTTP/1.1 keep-alive connection per concurrent
//! client, and records latency in an HDR histogram.
//!
//! * **Closed loop** (`Mode::Closed`): each of `concurrency` clients sends its next request as
//!   soon as the previous answer arrived. Throughput is what the server sustains at that
//!   concurrency.
//! * **Open loop** (`Mode::Open { rate }`): requests are due at a fixed rate whatever the server
//!   does, and each latency is measured from the moment the request was *due*, not sent — so a
//!   stalled server shows up in the percentiles instead of silently slowing the client down
//!   (coordinated omission, corrected the way wrk2 does).
//!
//! The harness that starts servers, seeds wallets and checks the books afterwards is
//! `kassa bench` (crates/kassa/src/commands/bench); this crate only generates load.
#![forbid(unsafe_code)]

mod client;
mod scenario;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rust_decimal::Decimal;
use serde::Serialize;

pub use scenario::{Account, Scenario};

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Closed,
    /// Requests per second, over all connections.
    Open {
        rate: f64,
    },
}

/// One load run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub addr: SocketAddr,
    /// The signed scenarios spread their requests over these accounts (`orders-hot` uses the first).
    pub accounts: Vec<Account>,
    /// The service orders are placed for, and the quantity of each.
    pub service_id: i64,
    pub quantity: u64,
    /// Connections (and, closed loop, clients).
    pub concurrency: usize,
    pub mode: Mode,
    /// Measured time, after the warm-up.
    pub duration: Duration,
    /// Load that is sent but not measured, so caches and connections are warm.
    pub warmup: Duration,
    pub seed: u64,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Answered requests in the measured window.
    pub requests: u64,
    /// Answered requests per second in the measured window.
    pub throughput: f64,
    pub latency_us: Latency,
    /// Every HTTP status seen in the measured window, with its count.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connection refused or reset), warm-up included.
    pub transport_errors: u64,
    /// Orders created (201, not replayed) over the whole run, warm-up included, and the sum of
    /// their charges as the server answered them: what the books must show afterwards.
    pub orders_created: u64,
    pub charged: kassa_wire::Amount,
    /// The ids of those orders, each of which the books must hold (not in the report).
    #[serde(skip)]
    pub created_ids: Vec<String>,
    /// Requests that were due but not sent when the time was up (open loop only).
    pub not_sent: u64,
    pub measured_secs: f64,
}

/// Everything one client (or the open-loop dispatcher) records.
struct Stats {
    histogram: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    orders_created: u64,
    charged: Decimal,
    created_ids: Vec<String>,
}

impl Stats {
    fn new() -> Self {
        Self {
            // 1 µs to 100 s, three significant digits.
            histogram: Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds"),
            statuses: BTreeMap::new(),
            transport_errors: 0,
            orders_created: 0,
            charged: Decimal::ZERO,
            created_ids: Vec::new(),
        }
    }

    fn record(&mut self, answer: &client::Answer, latency: Duration, measured: bool) {
        if let Some((id, charge)) = &answer.created {
            self.orders_created += 1;
            self.charged += charge;
            self.created_ids.push(id.clone());
        }
        if measured {
            self.histogram.saturating_record(latency.as_micros().max(1) as u64);
            *self.statuses.entry(answer.status).or_default() += 1;
        }
    }

    fn merge(&mut self, other: Stats) {
        self.histogram.add(&other.histogram).expect("histograms with the same bounds merge");
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.transport_errors += other.transport_errors;
        self.orders_created += other.orders_created;
        self.charged += other.charged;
        self.created_ids.extend(other.created_ids);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, String),
    #[error("the plan is unusable: {0}")]
    Plan(String),
}

/// Runs the plan and says what happened.
pub async fn run(plan: Plan) -> Result<Outcome, BenchError> {
    if plan.concurrency == 0 {
        return Err(BenchError::Plan("concurrency must be at least 1".into()));
    }
    if plan.scenario.signed() && plan.accounts.is_empty() {
        return Err(BenchError::Plan("signed scenarios need at least one account".into()));
    }
    let plan = Arc::new(plan);
    let started = Instant::now();
    let measure_from = started + plan.warmup;
    let end = measure_from + plan.duration;
    let (stats, not_sent) = match plan.mode {
        Mode::Closed => (closed_loop(&plan, measure_from, end).await?, 0),
        Mode::Open { rate } => open_loop(&plan, rate, measure_from, end).await?,
    };
    let measured = plan.duration.as_secs_f64();
    let h = &stats.histogram;
    let requests = h.len();
    Ok(Outcome {
        requests,
        throughput: requests as f64 / measured,
        latency_us: Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        },
        statuses: stats.statuses,
        transport_errors: stats.transport_errors,
        orders_created: stats.orders_created,
        charged: kassa_wire::Amount(stats.charged),
        created_ids: stats.created_ids,
        not_sent,
        measured_secs: measured,
    })
}

async fn closed_loop(plan: &Arc<Plan>, measure_from: Instant, end: Instant) -> Result<Stats, BenchError> {
    let mut clients = tokio::task::JoinSet::new();
    for n in 0..plan.concurrency {
        let plan = plan.clone();
        let mut connection = client::Connection::open(plan.addr).await?;
        clients.spawn(async move {
            let mut stats = Stats::new();
            let mut requests = scenario::Generator::new(&plan, n);
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let request = requests.next();
                match connection.send(request).await {
                    Ok(answer) => {
                        requests.learn(&answer);
                        stats.record(&answer, sent.elapsed(), sent >= measure_from);
                    }
                    Err(_) => {
                        stats.transport_errors += 1;
                        // The server closed or reset the connection: open a new one and go on.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        if let Ok(fresh) = client::Connection::open(plan.addr).await {
                            connection = fresh;
                        }
                    }
                }
            }
            stats
        });
    }
    let mut total = Stats::new();
    while let Some(done) = clients.join_next().await {
        total.merge(done.expect("a load client does not panic"));
    }
    Ok(total)
}

async fn open_loop(
    plan: &Arc<Plan>,
    rate: f64,
    measure_from: Instant,
    end: Instant,
) -> Result<(Stats, u64), BenchError> {
    if rate.is_nan() || rate <= 0.0 {
        return Err(BenchError::Plan("the open-loop rate must be positive".into()));
    }
    let (idle_tx, mut idle) = tokio::sync::mpsc::channel(plan.concurrency);
    for n in 0..plan.concurrency {
        let connection = client::Connection::open(plan.addr).await?;
        idle_tx.send((connection, scenario::Generator::new(plan, n))).await.expect("the pool is open");
    }
    let stats = Arc::new(Mutex::new(Stats::new()));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut due = start;
    let mut not_sent = 0;
    let mut running = tokio::task::JoinSet::new();
    while due < end {
        tokio::time::sleep_until(due.into()).await;
        // Every connection busy: this request waits, and its wait counts in its latency.
        let Some((mut connection, mut requests)) = (tokio::select! {
            idle = idle.recv() => idle,
            _ = tokio::time::sleep_until(end.into()) => None,
        }) else {
            break;
        };
        let (plan, stats, idle_tx, intended) = (plan.clone(), stats.clone(), idle_tx.clone(), due);
        running.spawn(async move {
            let request = requests.next();
            match connection.send(request).await {
                Ok(answer) => {
                    requests.learn(&answer);
                    stats.lock().expect("stats lock").record(&answer, intended.elapsed(), intended >= measure_from);
                }
                Err(_) => {
                    stats.lock().expect("stats lock").transport_errors += 1;
                    if let Ok(fresh) = client::Connection::open(plan.addr).await {
                        connection = fresh;
                    }
                }
            }
            let _ = idle_tx.send((connection, requests)).await;
        });
        due += interval;
        // Reap finished requests now and then so the set does not grow with the run.
        while running.try_join_next().is_some() {}
    }
    while due < end {
        not_sent += 1;
        due += interval;
    }
    while running.join_next().await.is_some() {}
    let stats = Arc::try_unwrap(stats).ok().expect("every request finished").into_inner().expect("stats lock");
    Ok((stats, not_sent))
}
