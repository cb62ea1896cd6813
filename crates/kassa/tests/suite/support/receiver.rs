//! A webhook receiver for tests: a real HTTP server on loopback that records what it gets and
//! answers with the statuses it is told to.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    answers: VecDeque<u16>,
    default: u16,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

impl Receiver {
    /// Answers `answers` in turn, then `default` forever.
    pub async fn start(answers: &[u16], default: u16) -> Self {
        let inner =
            Arc::new(Mutex::new(Inner { received: Vec::new(), answers: answers.iter().copied().collect(), default }));
        let app = Router::new().route("/hook", post(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { inner, url }
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut inner = inner.lock().unwrap();
    inner.received.push(Received { headers, body });
    let status = inner.answers.pop_front().unwrap_or(inner.default);
    StatusCode::from_u16(status).unwrap()
}
