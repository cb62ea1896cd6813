// Cargo.toml dependencies:
// hmac = "0.12"
// reqwest = { version = "0.12", features = ["blocking"] }
// serde_json = "1"
// sha2 = "0.10"
use hmac::{Hmac, Mac};
use reqwest::blocking::Client;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};
type HmacSha256 = Hmac<Sha256>;
fn hex(bytes: &[u8]) -> String {
bytes.iter().map(|b| format!("{:02x}", b)).collect()
}
fn main() -> Result<(), Box<dyn std::error::Error>> {
let base_url = std::env::var("KASSA_BASE_URL")?; let base_url = base_url.as_str();
let api_key = std::env::var("KASSA_API_KEY")?; let api_key = api_key.as_str();
let api_secret = std::env::var("KASSA_API_SECRET")?; let api_secret = api_secret.as_str();
let method = "POST";
let path = "/api/v1/orders";
let body = json!({
"service_id": std::env::var("KASSA_SERVICE_ID")?.parse::<i64>()?,
"quantity": 1000,
"link": "https://www.tiktok.com/@username/video/123",
"client_order_ref": "your-order-10001"
}).to_string();
let timestamp = SystemTime::now()
.duration_since(UNIX_EPOCH)?
.as_secs()
.to_string();
let body_hash = hex(&Sha256::digest(body.as_bytes()));
let message = format!("{}\n{}\n{}\n{}", method, path, timestamp, body_hash);
let mut mac = HmacSha256::new_from_slice(api_secret.as_bytes())?;
mac.update(message.as_bytes());
let signature = hex(&mac.finalize().into_bytes());
let response = Client::new()
.post(format!("{}{}", base_url, path))
.header("Content-Type", "application/json")
.header("X-API-Key", api_key)
.header("X-Timestamp", timestamp)
.header("X-Signature", format!("sha256={}", signature))
.header("X-Idempotency-Key", format!("order-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos()))
.body(body)
.send()?;
println!("{}", response.status());
println!("{}", response.text()?);
Ok(())
}
