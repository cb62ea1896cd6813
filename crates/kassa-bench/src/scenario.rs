//! What each scenario sends, signed the way the BuyShazam documentation's clients sign.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::client::{Answer, Request};
use crate::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `POST /api/v1/orders`, each on a random account.
    Orders,
    /// `POST /api/v1/orders`, all on the first account (one wallet).
    OrdersHot,
    /// Signed `GET /api/v1/balance`.
    Balance,
    /// 80 % reads (balance, order status, order list) and 20 % orders.
    Mixed,
    /// Unsigned `GET /healthz`: the HTTP stack alone, the ceiling of the run.
    Healthz,
    /// `GET /api/v1/orders/{id}` of existing orders (`Account::order_ids`).
    OrderStatus,
    /// `GET /api/v1/orders?page=1&limit=50`.
    OrderList,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Orders,
        Scenario::OrdersHot,
        Scenario::Balance,
        Scenario::Mixed,
        Scenario::Healthz,
        Scenario::OrderStatus,
        Scenario::OrderList,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Orders => "orders",
            Scenario::OrdersHot => "orders-hot",
            Scenario::Balance => "balance",
            Scenario::Mixed => "mixed",
            Scenario::Healthz => "healthz",
            Scenario::OrderStatus => "order-status",
            Scenario::OrderList => "order-list",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn signed(self) -> bool {
        self != Scenario::Healthz
    }

    /// Whether the scenario places orders (and the books must be checked after it).
    pub fn places_orders(self) -> bool {
        matches!(self, Scenario::Orders | Scenario::OrdersHot | Scenario::Mixed)
    }
}

/// A customer's key as an integrator holds it, and orders it is known to have.
#[derive(Debug, Clone)]
pub struct Account {
    pub api_key: String,
    pub secret: String,
    pub order_ids: Vec<String>,
}

/// Makes one client's requests. Each generator has its own random numbers and its own
/// sequence of idempotency keys, so clients never collide.
pub struct Generator {
    scenario: Scenario,
    accounts: Vec<Account>,
    service_id: i64,
    quantity: u64,
    client: usize,
    sequence: u64,
    rng: StdRng,
    /// The account of the last request, to remember the order it created.
    last_account: usize,
    run: u64,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Generator {
    pub fn new(plan: &Plan, client: usize) -> Self {
        Self {
            scenario: plan.scenario,
            accounts: plan.accounts.clone(),
            service_id: plan.service_id,
            quantity: plan.quantity,
            client,
            sequence: 0,
            rng: StdRng::seed_from_u64(plan.seed ^ (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            last_account: 0,
            run: plan.seed,
        }
    }

    fn account(&mut self) -> usize {
        self.last_account = match self.scenario {
            Scenario::OrdersHot => 0,
            _ => self.rng.gen_range(0..self.accounts.len()),
        };
        self.last_account
    }

    pub fn next(&mut self) -> Request {
        self.sequence += 1;
        match self.scenario {
            Scenario::Healthz => Request {
                method: Method::GET,
                path_and_query: "/healthz".into(),
                headers: Vec::new(),
                body: Bytes::new(),
                is_order: false,
            },
            Scenario::Orders | Scenario::OrdersHot => {
                let account = self.account();
                self.order(account)
            }
            Scenario::Balance => {
                let account = self.account();
                self.get(account, "/api/v1/balance".into())
            }
            Scenario::OrderList => {
                let account = self.account();
                self.get(account, "/api/v1/orders?page=1&limit=50".into())
            }
            Scenario::OrderStatus => {
                let account = self.account();
                match self.known_order(account) {
                    Some(id) => self.get(account, format!("/api/v1/orders/{id}")),
                    None => self.get(account, "/api/v1/balance".into()),
                }
            }
            Scenario::Mixed => {
                let account = self.account();
                match self.rng.gen_range(0..100) {
                    0..20 => self.order(account),
                    20..47 => self.get(account, "/api/v1/balance".into()),
                    47..74 => match self.known_order(account) {
                        Some(id) => self.get(account, format!("/api/v1/orders/{id}")),
                        None => self.get(account, "/api/v1/balance".into()),
                    },
                    _ => self.get(account, "/api/v1/orders?page=1&limit=20".into()),
                }
            }
        }
    }

    /// Remembers the orders this client created, for the status reads of `mixed`.
    pub fn learn(&mut self, answer: &Answer) {
        if let (Scenario::Mixed, Some((id, _))) = (self.scenario, &answer.created) {
            let ids = &mut self.accounts[self.last_account].order_ids;
            if ids.len() < 1000 {
                ids.push(id.clone());
            }
        }
    }

    fn known_order(&mut self, account: usize) -> Option<String> {
        let ids = &self.accounts[account].order_ids;
        (!ids.is_empty()).then(|| ids[self.rng.gen_range(0..ids.len())].clone())
    }

    fn signed(&self, account: usize, method: &Method, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let Account { api_key, secret, .. } = &self.accounts[account];
        let timestamp = unix_now().to_string();
        let signature = kassa_wire::sign::buyshazam::sign(secret, method.as_str(), path, &timestamp, body);
        vec![("x-api-key", api_key.clone()), ("x-timestamp", timestamp), ("x-signature", format!("sha256={signature}"))]
    }

    fn get(&self, account: usize, path: String) -> Request {
        let headers = self.signed(account, &Method::GET, &path, b"");
        Request { method: Method::GET, path_and_query: path, headers, body: Bytes::new(), is_order: false }
    }

    fn order(&self, account: usize) -> Request {
        // A unique link makes every body (so every signature) unique, as real orders are.
        let body = format!(
            r#"{{"service_id":{},"quantity":{},"link":"https://example.com/bench/{}/{}/{}"}}"#,
            self.service_id, self.quantity, self.run, self.client, self.sequence
        );
        let path = "/api/v1/orders";
        let mut headers = self.signed(account, &Method::POST, path, body.as_bytes());
        headers.push(("content-type", "application/json".into()));
        headers.push(("x-idempotency-key", format!("bench-{}-{}-{}", self.run, self.client, self.sequence)));
        Request { method: Method::POST, path_and_query: path.into(), headers, body: Bytes::from(body), is_order: true }
    }
}
