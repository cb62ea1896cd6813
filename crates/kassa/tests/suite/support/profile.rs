//! Signed requests of the profile dialect, for tests that bend one thing at a time (a missing
//! header, a stale timestamp, a lower-case method, a signature over another path). The signing is
//! the seed's formula written out here, independently of `kassa-wire`:
//! `base64(HMAC_SHA256(base64_decode(secret), timestamp + method + requestPath + body))`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use kassa_client::RawResponse;
use sha2::Sha256;

/// Unix seconds with milliseconds, the way Python's `str(time.time())` sends them.
pub fn decimal_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}.{:03}", now.as_secs(), now.subsec_millis())
}

pub fn profile_signature(secret: &str, timestamp: &str, method: &str, request_path: &str, body: &[u8]) -> String {
    let key = STANDARD.decode(secret).expect("kassa secrets are base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(method.as_bytes());
    mac.update(request_path.as_bytes());
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Clone)]
pub struct ProfileSigner {
    pub base_url: String,
    pub api_key: String,
    pub secret: String,
    http: reqwest::Client,
}

impl ProfileSigner {
    pub fn new(base_url: &str, api_key: &str, secret: &str) -> Self {
        Self { base_url: base_url.into(), api_key: api_key.into(), secret: secret.into(), http: reqwest::Client::new() }
    }

    pub fn request(&self, method: &str, path: &str) -> ProfileSpec {
        ProfileSpec {
            signer: self.clone(),
            method: method.into(),
            path: path.into(),
            body: Vec::new(),
            timestamp: None,
            sign_method: None,
            sign_path: None,
            sign_body: None,
            signature: None,
            secret: None,
            api_key: None,
            omit: Vec::new(),
            headers: Vec::new(),
            content_type: Some("application/json".into()),
        }
    }

    pub fn me(&self) -> ProfileSpec {
        self.request("GET", "/profile/me")
    }

    pub fn edit(&self, body: &serde_json::Value) -> ProfileSpec {
        self.request("PUT", "/profile/edit").body(serde_json::to_vec(body).unwrap())
    }

    pub fn verify(&self, body: &serde_json::Value) -> ProfileSpec {
        self.request("POST", "/profile/verify").body(serde_json::to_vec(body).unwrap())
    }
}

pub struct ProfileSpec {
    signer: ProfileSigner,
    method: String,
    path: String,
    body: Vec<u8>,
    timestamp: Option<String>,
    sign_method: Option<String>,
    sign_path: Option<String>,
    sign_body: Option<Vec<u8>>,
    signature: Option<String>,
    secret: Option<String>,
    api_key: Option<String>,
    omit: Vec<String>,
    headers: Vec<(String, String)>,
    content_type: Option<String>,
}

impl ProfileSpec {
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
    pub fn timestamp(mut self, t: impl ToString) -> Self {
        self.timestamp = Some(t.to_string());
        self
    }
    /// Sign with this method text (the seed's example lower-cases it).
    pub fn sign_method(mut self, m: &str) -> Self {
        self.sign_method = Some(m.into());
        self
    }
    pub fn sign_path(mut self, p: &str) -> Self {
        self.sign_path = Some(p.into());
        self
    }
    pub fn sign_body(mut self, b: &[u8]) -> Self {
        self.sign_body = Some(b.to_vec());
        self
    }
    /// Send this `BB-ACCESS-SIGN` verbatim.
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
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
    pub fn content_type(mut self, ct: Option<&str>) -> Self {
        self.content_type = ct.map(str::to_string);
        self
    }

    pub async fn send(self) -> RawResponse {
        let timestamp = self.timestamp.clone().unwrap_or_else(decimal_now);
        let signature = self.signature.clone().unwrap_or_else(|| {
            profile_signature(
                self.secret.as_deref().unwrap_or(&self.signer.secret),
                &timestamp,
                self.sign_method.as_deref().unwrap_or(&self.method),
                self.sign_path.as_deref().unwrap_or(&self.path),
                self.sign_body.as_deref().unwrap_or(&self.body),
            )
        });
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut request = self.signer.http.request(method, format!("{}{}", self.signer.base_url, self.path));
        let mut headers = vec![
            ("bb-access-key".to_string(), self.api_key.clone().unwrap_or_else(|| self.signer.api_key.clone())),
            ("bb-access-sign".to_string(), signature),
            ("bb-access-timestamp".to_string(), timestamp),
        ];
        if let Some(ct) = &self.content_type {
            headers.push(("content-type".into(), ct.clone()));
        }
        headers.extend(self.headers.iter().cloned());
        for (name, value) in headers {
            if !self.omit.contains(&name) {
                request = request.header(name, value);
            }
        }
        if !self.body.is_empty() {
            request = request.body(self.body.clone());
        }
        let response = request.send().await.expect("request reaches the server");
        RawResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("response body").to_vec(),
        }
    }
}

/// Asserts a profile-dialect error: the status and the exact list of messages.
#[track_caller]
pub fn assert_errors(response: &RawResponse, status: u16, errors: &[&str]) {
    let body = response
        .json()
        .unwrap_or_else(|e| panic!("HTTP {}: {e}: {:?}", response.status, String::from_utf8_lossy(&response.body)));
    assert_eq!(
        (response.status, &body),
        (status, &serde_json::json!({"success": false, "errors": errors})),
        "unexpected answer"
    );
    assert!(response.header("x-request-id").is_some(), "every answer carries X-Request-Id");
}

/// Asserts a success and returns its `response` object.
#[track_caller]
pub fn assert_ok(response: &RawResponse) -> serde_json::Value {
    let body = response
        .json()
        .unwrap_or_else(|e| panic!("HTTP {}: {e}: {:?}", response.status, String::from_utf8_lossy(&response.body)));
    assert_eq!((response.status, &body["success"]), (200, &serde_json::json!(true)), "{body}");
    body["response"].clone()
}

/// Document bytes of each type, with `filler` after the signature so tests can find them.
pub fn png(filler: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
    bytes.extend_from_slice(filler);
    bytes
}

pub fn jpeg(filler: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0];
    bytes.extend_from_slice(filler);
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

pub fn pdf(filler: &[u8]) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend_from_slice(filler);
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
