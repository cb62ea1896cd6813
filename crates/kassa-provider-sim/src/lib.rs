//! A provider simulator: a local server speaking the de facto reseller-panel API v2 (one
//! endpoint, `POST` form fields `key` and `action`), for demos and tests.
//!
//! Orders progress over time (`Pending`, then `In progress`, then `Completed`, `Partial` or
//! `Canceled`). Faults can be injected at random rates (flags of `kassa provider-sim`) or queued
//! one by one through `POST /control` (what tests use, so they are deterministic). A fault is
//! applied **after** the action took effect — an `add` that times out did create the order —
//! because that is the case a client must survive. Every request is logged and readable at
//! `GET /requests` (the API key is never logged).
//!
//! Faults: `timeout` (answer after `timeout_ms`), `error` (HTTP 500), `malformed` (a truncated
//! JSON body), `reset` (close the connection without answering), `slow` (answer after
//! `latency_ms`), `refuse` (a panel's refusal, `{"error": ...}` with HTTP 200; unlike the others
//! the action does not take effect).
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The API key clients must send.
    pub key: String,
    /// How long a new order stays `Pending`.
    pub pending: Duration,
    /// How long it then stays `In progress`.
    pub in_progress: Duration,
    /// Added to every answer.
    pub latency: Duration,
    /// How long a `timeout` fault holds the answer.
    pub timeout: Duration,
    /// Random fault rates (0.0 to 1.0), each drawn per request.
    pub error_rate: f64,
    pub timeout_rate: f64,
    pub malformed_rate: f64,
    pub reset_rate: f64,
    /// Random outcome rates for new orders; the rest complete.
    pub partial_rate: f64,
    pub cancel_rate: f64,
    /// The provider's own balance, reported by `action=balance`.
    pub balance: String,
    /// Whether `status` takes `orders=` (many ids); a panel without it knows only `order=`.
    pub multi_status: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            key: "sim-key".into(),
            pending: Duration::from_secs(2),
            in_progress: Duration::from_secs(5),
            latency: Duration::ZERO,
            timeout: Duration::from_secs(60),
            error_rate: 0.0,
            timeout_rate: 0.0,
            malformed_rate: 0.0,
            reset_rate: 0.0,
            partial_rate: 0.0,
            cancel_rate: 0.0,
            balance: "1000.00".into(),
            multi_status: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    Ok,
    Timeout,
    Error,
    Malformed,
    Reset,
    Slow,
    Refuse,
}

/// How a new order ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Completed,
    Partial { remains: u64 },
    Canceled,
}

/// `POST /control`: faults for the next requests of each action, and outcomes for the next orders.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Control {
    #[serde(default)]
    pub faults: HashMap<String, Vec<Fault>>,
    #[serde(default)]
    pub outcomes: Vec<Outcome>,
}

/// One logged request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub action: String,
    /// Form fields except `key`.
    pub params: HashMap<String, String>,
    pub at_ms: u64,
    pub fault: Fault,
}

struct SimOrder {
    id: u64,
    service: u64,
    quantity: u64,
    created: Instant,
    outcome: Outcome,
    canceled: bool,
}

struct SimState {
    config: SimConfig,
    started: Instant,
    next_id: u64,
    orders: HashMap<u64, SimOrder>,
    log: Vec<LoggedRequest>,
    faults: HashMap<String, VecDeque<Fault>>,
    outcomes: VecDeque<Outcome>,
}

type Shared = Arc<Mutex<SimState>>;

/// The simulator's catalogue: id, name, type, category, rate per 1000, min, max.
const SERVICES: &[(u64, &str, &str, &str, &str, u64, u64)] = &[
    (1, "Followers", "Default", "Instagram", "0.90", 10, 100_000),
    (2, "Custom Comments", "Custom Comments", "TikTok", "8.00", 1, 1_000),
    (3, "Likes", "Default", "YouTube", "1.20", 100, 50_000),
];

/// A running simulator.
pub struct Simulator {
    pub addr: SocketAddr,
    state: Shared,
    stop: Option<oneshot::Sender<()>>,
}

impl Simulator {
    /// Binds `listen` and serves in the background until dropped or stopped.
    pub async fn start(listen: SocketAddr, config: SimConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(SimState {
            config,
            started: Instant::now(),
            next_id: 1000,
            orders: HashMap::new(),
            log: Vec::new(),
            faults: HashMap::new(),
            outcomes: VecDeque::new(),
        }));
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(accept_loop(listener, state.clone(), stopped));
        Ok(Self { addr, state, stop: Some(stop) })
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v2", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.lock().expect("sim lock").log.clone()
    }

    pub fn control(&self, control: Control) {
        apply_control(&self.state, control);
    }

    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn apply_control(state: &Shared, control: Control) {
    let mut state = state.lock().expect("sim lock");
    for (action, faults) in control.faults {
        state.faults.entry(action).or_default().extend(faults);
    }
    state.outcomes.extend(control.outcomes);
}

/// Accepts connections; each gets a handle through which a handler can cut it (`reset`).
async fn accept_loop(listener: TcpListener, state: Shared, mut stopped: oneshot::Receiver<()>) {
    let app = router(state);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "provider-sim accept failed");
                    continue;
                }
            },
            _ = &mut stopped => return,
        };
        let (cut, cut_requested) = tokio::sync::mpsc::channel::<()>(1);
        let service = app.clone().layer(Extension(Cutter(cut)));
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = hyper_util::service::TowerToHyperService::new(service);
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
            let mut cut_requested = cut_requested;
            tokio::select! {
                _ = connection => {}
                // Dropping the connection closes the socket with no answer.
                _ = cut_requested.recv() => {}
            }
        });
    }
}

/// Lets a handler close its own connection without answering.
#[derive(Clone)]
struct Cutter(tokio::sync::mpsc::Sender<()>);

fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/v2", post(api))
        .route("/requests", get(requests))
        .route("/control", post(control))
        .with_state(state)
}

async fn requests(State(state): State<Shared>) -> Json<Vec<LoggedRequest>> {
    Json(state.lock().expect("sim lock").log.clone())
}

async fn control(State(state): State<Shared>, Json(control): Json<Control>) -> StatusCode {
    apply_control(&state, control);
    StatusCode::NO_CONTENT
}

fn pick_fault(state: &mut SimState, action: &str) -> Fault {
    if let Some(fault) = state.faults.get_mut(action).and_then(VecDeque::pop_front) {
        return fault;
    }
    let config = &state.config;
    let mut rng = rand::thread_rng();
    let mut roll = |rate: f64| rate > 0.0 && rng.gen_bool(rate.min(1.0));
    if roll(config.reset_rate) {
        Fault::Reset
    } else if roll(config.timeout_rate) {
        Fault::Timeout
    } else if roll(config.error_rate) {
        Fault::Error
    } else if roll(config.malformed_rate) {
        Fault::Malformed
    } else {
        Fault::Ok
    }
}

async fn api(
    State(state): State<Shared>,
    Extension(cutter): Extension<Cutter>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let action = form.get("action").cloned().unwrap_or_default();
    let (answer, fault, latency, timeout) = {
        let mut state = state.lock().expect("sim lock");
        let fault = pick_fault(&mut state, &action);
        let params = form.iter().filter(|(k, _)| k.as_str() != "key").map(|(k, v)| (k.clone(), v.clone())).collect();
        let at_ms = state.started.elapsed().as_millis() as u64;
        state.log.push(LoggedRequest { action: action.clone(), params, at_ms, fault });
        let answer = if form.get("key") != Some(&state.config.key) {
            json!({"error": "Invalid API key"})
        } else if fault == Fault::Refuse {
            json!({"error": "Refused (simulated)"})
        } else {
            handle(&mut state, &action, &form)
        };
        (answer, fault, state.config.latency, state.config.timeout)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Fault::Ok | Fault::Refuse => Json(answer).into_response(),
        Fault::Slow => {
            tokio::time::sleep(latency.max(Duration::from_secs(2))).await;
            Json(answer).into_response()
        }
        Fault::Timeout => {
            tokio::time::sleep(timeout).await;
            Json(answer).into_response()
        }
        Fault::Error => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "Internal Server Error"}))).into_response()
        }
        Fault::Malformed => {
            let mut text = answer.to_string();
            text.truncate(text.len() / 2);
            ([("content-type", "application/json")], text).into_response()
        }
        Fault::Reset => {
            let _ = cutter.0.send(()).await;
            // The connection is gone; this answer is never written.
            std::future::pending::<Response>().await
        }
    }
}

fn number(form: &HashMap<String, String>, name: &str) -> Option<u64> {
    form.get(name).and_then(|v| v.trim().parse().ok())
}

fn handle(state: &mut SimState, action: &str, form: &HashMap<String, String>) -> Value {
    match action {
        "services" => Value::Array(
            SERVICES
                .iter()
                .map(|(id, name, kind, category, rate, min, max)| {
                    json!({"service": id, "name": name, "type": kind, "category": category, "rate": rate,
                           "min": min.to_string(), "max": max.to_string(), "refill": true, "cancel": true})
                })
                .collect(),
        ),
        "balance" => json!({"balance": state.config.balance, "currency": "USD"}),
        "add" => {
            let Some(service) = number(form, "service").filter(|s| SERVICES.iter().any(|(id, ..)| id == s)) else {
                return json!({"error": "Incorrect service ID"});
            };
            if form.get("link").is_none_or(|l| l.trim().is_empty()) {
                return json!({"error": "Bad link"});
            }
            let Some(quantity) = number(form, "quantity").filter(|q| *q > 0) else {
                return json!({"error": "Quantity less than minimal"});
            };
            let outcome = state.outcomes.pop_front().unwrap_or_else(|| {
                let mut rng = rand::thread_rng();
                if rng.gen_bool(state.config.partial_rate.clamp(0.0, 1.0)) {
                    Outcome::Partial { remains: rng.gen_range(1..=quantity) }
                } else if rng.gen_bool(state.config.cancel_rate.clamp(0.0, 1.0)) {
                    Outcome::Canceled
                } else {
                    Outcome::Completed
                }
            });
            state.next_id += 1;
            let id = state.next_id;
            state
                .orders
                .insert(id, SimOrder { id, service, quantity, created: Instant::now(), outcome, canceled: false });
            // Real panels answer with a number; some send a string. This one sends a number.
            json!({"order": id})
        }
        "status" => {
            if let Some(ids) = form.get("orders").filter(|_| state.config.multi_status) {
                let ids: Vec<&str> = ids.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
                if ids.len() > 100 {
                    return json!({"error": "Too many orders (100 at most)"});
                }
                let mut answer = serde_json::Map::new();
                for id in ids {
                    let status = id.parse().ok().and_then(|id: u64| state.orders.get(&id)).map(|o| status_of(state, o));
                    answer.insert(id.to_string(), status.unwrap_or_else(|| json!({"error": "Incorrect order ID"})));
                }
                Value::Object(answer)
            } else {
                match number(form, "order").and_then(|id| state.orders.get(&id)) {
                    Some(order) => status_of(state, order),
                    None => json!({"error": "Incorrect order ID"}),
                }
            }
        }
        "cancel" => {
            let ids = form.get("orders").or(form.get("order")).cloned().unwrap_or_default();
            let mut results = Vec::new();
            for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let result = match id.parse().ok().and_then(|id: u64| state.orders.get_mut(&id)) {
                    Some(order)
                        if order.created.elapsed() < state.config.pending + state.config.in_progress
                            && !order.canceled =>
                    {
                        order.canceled = true;
                        json!(1)
                    }
                    Some(_) => json!({"error": "Order cannot be canceled"}),
                    None => json!({"error": "Incorrect order ID"}),
                };
                results.push(
                    json!({"order": id.parse::<u64>().map(Value::from).unwrap_or(Value::from(id)), "cancel": result}),
                );
            }
            Value::Array(results)
        }
        "refill" => match number(form, "order").and_then(|id| state.orders.get(&id)) {
            Some(order) if order.created.elapsed() >= state.config.pending + state.config.in_progress => {
                json!({"refill": format!("{}", 90_000 + order.id)})
            }
            Some(_) => json!({"error": "Refill is not available for this order"}),
            None => json!({"error": "Incorrect order ID"}),
        },
        _ => json!({"error": "Incorrect request"}),
    }
}

/// An order's status as panels write it: every number a string.
fn status_of(state: &SimState, order: &SimOrder) -> Value {
    let elapsed = order.created.elapsed();
    let config = &state.config;
    let rate: f64 = SERVICES.iter().find(|s| s.0 == order.service).and_then(|s| s.4.parse().ok()).unwrap_or(1.0);
    let charge = format!("{:.5}", rate * order.quantity as f64 / 1000.0);
    let (status, remains) = if order.canceled {
        ("Canceled", order.quantity)
    } else if elapsed < config.pending {
        ("Pending", order.quantity)
    } else if elapsed < config.pending + config.in_progress {
        ("In progress", order.quantity / 2)
    } else {
        match order.outcome {
            Outcome::Completed => ("Completed", 0),
            Outcome::Partial { remains } => ("Partial", remains.min(order.quantity)),
            Outcome::Canceled => ("Canceled", order.quantity),
        }
    };
    json!({"charge": charge, "start_count": "3572", "status": status, "remains": remains.to_string(), "currency": "USD"})
}
