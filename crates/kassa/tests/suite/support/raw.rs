//! Hand-built signed requests, for tests that need to bend one thing at a time (a stale
//! timestamp, a missing header, a signature over another path). Signing itself is the seed's
//! formula written out here, independently of `kassa-wire`.

use hmac::{Hmac, Mac};
use kassa_client::RawResponse;
use sha2::{Digest, Sha256};

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The seed's formula: hex(HMAC_SHA256(secret, METHOD\npath\ntimestamp\nhex(sha256(body)))).
pub fn seed_signature(secret: &str, method: &str, path: &str, timestamp: &str, body: &[u8]) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    let message = format!("{method}\n{path}\n{timestamp}\n{body_hash}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[derive(Clone)]
pub struct Signer {
    base_url: String,
    api_key: String,
    secret: String,
    http: reqwest::Client,
}

impl Signer {
    pub fn new(base_url: &str, api_key: &str, secret: &str) -> Self {
        Self { base_url: base_url.into(), api_key: api_key.into(), secret: secret.into(), http: reqwest::Client::new() }
    }

    pub fn request(&self, method: &str, path: &str) -> Spec {
        Spec {
            signer: self.clone(),
            method: method.into(),
            path: path.into(),
            body: Vec::new(),
            timestamp: None,
            sign_path: None,
            sign_method: None,
            signature: None,
            secret: None,
            api_key: None,
            omit: Vec::new(),
            headers: Vec::new(),
            content_type: Some("application/json".into()),
        }
    }

    pub fn get(&self, path: &str) -> Spec {
        self.request("GET", path)
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> Spec {
        self.request("POST", path).body(serde_json::to_vec(body).unwrap())
    }

    /// `POST /api/v1/orders` with `body` and idempotency key `key`.
    pub fn order(&self, body: &serde_json::Value, key: &str) -> Spec {
        self.post("/api/v1/orders", body).header("X-Idempotency-Key", key)
    }
}

pub struct Spec {
    signer: Signer,
    method: String,
    path: String,
    body: Vec<u8>,
    timestamp: Option<String>,
    sign_path: Option<String>,
    sign_method: Option<String>,
    signature: Option<String>,
    secret: Option<String>,
    api_key: Option<String>,
    omit: Vec<String>,
    headers: Vec<(String, String)>,
    content_type: Option<String>,
}

impl Spec {
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
    pub fn timestamp(mut self, t: impl ToString) -> Self {
        self.timestamp = Some(t.to_string());
        self
    }
    /// Sign this path instead of the one requested.
    pub fn sign_path(mut self, p: &str) -> Self {
        self.sign_path = Some(p.into());
        self
    }
    pub fn sign_method(mut self, m: &str) -> Self {
        self.sign_method = Some(m.into());
        self
    }
    /// Send this `X-Signature` value verbatim.
    pub fn signature(mut self, s: &str) -> Self {
        self.signature = Some(s.into());
        self
    }
    pub fn secret(mut self, s: &str) -> Self {
        self.secret = Some(s.into());
        self
    }
    pub fn api_key(mut self, k: &str) -> Self {
        self.api_key = Some(k.into());
        self
    }
    pub fn without(mut self, header: &str) -> Self {
        self.omit.push(header.to_ascii_lowercase());
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn content_type(mut self, ct: Option<&str>) -> Self {
        self.content_type = ct.map(str::to_string);
        self
    }

    pub async fn send(self) -> RawResponse {
        self.try_send().await.expect("request reaches the server")
    }

    /// Like [`send`](Self::send), but a connection the server closed is an `Err`, not a panic.
    pub async fn try_send(self) -> Result<RawResponse, reqwest::Error> {
        let timestamp = self.timestamp.clone().unwrap_or_else(|| now().to_string());
        let secret = self.secret.clone().unwrap_or_else(|| self.signer.secret.clone());
        let signature = self.signature.clone().unwrap_or_else(|| {
            let method = self.sign_method.as_deref().unwrap_or(&self.method);
            let path = self.sign_path.as_deref().unwrap_or(&self.path);
            format!("sha256={}", seed_signature(&secret, method, path, &timestamp, &self.body))
        });
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut request = self.signer.http.request(method, format!("{}{}", self.signer.base_url, self.path));
        let mut headers = vec![
            ("x-api-key".to_string(), self.api_key.clone().unwrap_or_else(|| self.signer.api_key.clone())),
            ("x-timestamp".to_string(), timestamp),
            ("x-signature".to_string(), signature),
        ];
        if let Some(ct) = &self.content_type {
            if !self.body.is_empty() {
                headers.push(("content-type".into(), ct.clone()));
            }
        }
        headers.extend(self.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())));
        for (name, value) in headers {
            if !self.omit.contains(&name) {
                request = request.header(name, value);
            }
        }
        if !self.body.is_empty() {
            request = request.body(self.body.clone());
        }
        let response = request.send().await?;
        Ok(RawResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await?.to_vec(),
        })
    }
}
