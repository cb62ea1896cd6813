//! One keep-alive HTTP/1.1 connection, as lean as hyper allows: the load generator shares the
//! machine with the server, so every microsecond it spends is one the server does not get.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rust_decimal::Decimal;

use crate::BenchError;

/// A request ready to send.
pub struct Request {
    pub method: hyper::Method,
    pub path_and_query: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// Whether a 201 answer is a new order whose charge counts for the books.
    pub is_order: bool,
}

/// What came back.
pub struct Answer {
    pub status: u16,
    /// For a newly created order (201, not a replay): its id and its charge.
    pub created: Option<(String, Decimal)>,
}

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

#[derive(serde::Deserialize)]
struct Created {
    order: kassa_wire::v1::CreatedOrder,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Self, BenchError> {
        let fail = |e: &dyn std::fmt::Display| BenchError::Connect(addr, e.to_string());
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| fail(&e))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| fail(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender, host: addr.to_string() })
    }

    pub async fn send(&mut self, request: Request) -> Result<Answer, hyper::Error> {
        let mut builder = hyper::Request::builder()
            .method(request.method)
            .uri(request.path_and_query)
            .header(hyper::header::HOST, &self.host);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        let http = builder.body(Full::new(request.body)).expect("the generator builds valid requests");
        self.sender.ready().await?;
        let response = self.sender.send_request(http).await?;
        let status = response.status().as_u16();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let body = response.into_body().collect().await?.to_bytes();
        let created = (request.is_order && status == 201 && !replayed)
            .then(|| serde_json::from_slice::<Created>(&body).ok().map(|c| (c.order.id, c.order.charge.decimal())))
            .flatten();
        Ok(Answer { status, created })
    }
}
