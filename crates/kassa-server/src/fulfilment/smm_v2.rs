//! The `smm-v2` connector: the de facto reseller-panel API v2. One endpoint; `POST` form fields
//! `key` and `action` (`services`, `add`, `status`, `cancel`, `refill`, `balance`); JSON answers;
//! errors as `{"error": "..."}`.
//!
//! Tolerant in what it accepts (numbers as strings, statuses in any case, extra fields), strict
//! in what it concludes: every failure is sorted by whether the request can have reached the
//! provider, because an `add` that may have reached it must never be sent again.

use std::collections::HashMap;
use std::time::Duration;

use kassa_core::OrderStatus;
use serde_json::Value;

/// Most order ids in one multi-status call (panels accept up to 100).
pub const MAX_STATUS_BATCH: usize = 100;

/// Why a call did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The request never left: connection refused, DNS, connect timeout. Safe to send again.
    NotSent(String),
    /// It may have been received: timeout after sending, connection reset, 5xx, an unreadable
    /// answer. For an `add`, the provider may have the order.
    Unknown(String),
    /// The provider answered `{"error": "..."}`: it refused.
    Refused(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NotSent(e) => write!(f, "not sent: {e}"),
            CallError::Unknown(e) => write!(f, "outcome unknown: {e}"),
            CallError::Refused(e) => write!(f, "refused by the provider: {e}"),
        }
    }
}

/// A provider's report on one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// The status exactly as the provider wrote it (kept as `smm_status`).
    pub raw: String,
    /// Our status, when the raw one maps to one we trust.
    pub status: Option<OrderStatus>,
    pub remains: Option<u64>,
    pub start_count: Option<u64>,
}

/// Maps a provider status to ours. Unknown words (`Fail`, `Error`, anything new) map to nothing:
/// the raw status is kept and nothing is concluded from it.
pub fn map_status(raw: &str) -> Option<OrderStatus> {
    let normalized: String = raw
        .trim()
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c.to_ascii_lowercase() })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match normalized.as_str() {
        "pending" | "processing" | "queued" => Some(OrderStatus::Processing),
        "in progress" | "inprogress" | "active" | "running" => Some(OrderStatus::InProgress),
        "completed" | "complete" | "done" | "success" => Some(OrderStatus::Completed),
        "partial" | "partially completed" => Some(OrderStatus::Partial),
        // A provider that refunded us gives the customer the whole charge back too.
        "canceled" | "cancelled" | "refunded" => Some(OrderStatus::Canceled),
        _ => None,
    }
}

/// A number sent as a JSON number or as a string of digits (possibly with a fraction, which is
/// dropped only when it is zero). A count no database column holds (above `i64::MAX`) is garbage,
/// not a count: it is dropped like any other unreadable value.
fn count(value: Option<&Value>) -> Option<u64> {
    let count: u64 = match value? {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => {
            let s = s.trim();
            let whole =
                s.split_once('.').map(|(w, f)| (f.bytes().all(|b| b == b'0')).then_some(w)).unwrap_or(Some(s))?;
            whole.parse().ok()?
        }
        _ => return None,
    };
    i64::try_from(count).is_ok().then_some(count)
}

/// An id sent as a number or a string.
fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() && s.len() <= 64 => Some(s.trim().to_string()),
        _ => None,
    }
}

/// The answer to a call: its body, or why it is not one.
fn classify(status: reqwest::StatusCode, body: &[u8]) -> Result<Value, CallError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| CallError::Unknown(format!("HTTP {status} with an unreadable body of {} bytes", body.len())))?;
    if let Some(error) = refusal(&value) {
        // An error body with a 5xx is the server failing, not a decision about the request. An
        // error beside the id of what the action creates contradicts itself: the provider may
        // have placed the order or refill, so it is no refusal (a refusal refunds the order).
        let acted = ["order", "refill"].iter().any(|field| id_text(value.get(*field)).is_some());
        return Err(if status.is_server_error() || acted {
            CallError::Unknown(format!("HTTP {status}: {error} (the answer: {value})"))
        } else {
            CallError::Refused(error)
        });
    }
    if !status.is_success() {
        return Err(CallError::Unknown(format!("HTTP {status}")));
    }
    Ok(value)
}

/// The provider's `error`, if it says one: panels that answer `"error": null`, `false` or `""`
/// beside a result have not refused.
fn refusal(value: &Value) -> Option<String> {
    match value.get("error")? {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub fn parse_status(value: &Value) -> Result<UpstreamStatus, String> {
    if let Some(error) = refusal(value) {
        return Err(error);
    }
    let raw = value.get("status").and_then(Value::as_str).ok_or("no status in the answer")?.trim().to_string();
    Ok(UpstreamStatus {
        status: map_status(&raw),
        raw,
        remains: count(value.get("remains")),
        start_count: count(value.get("start_count")),
    })
}

/// A connector to one provider.
pub struct SmmV2 {
    http: reqwest::Client,
    url: String,
    key: String,
    /// Cleared once the panel has shown it does not know multi-status (`orders=`); from then on
    /// orders are asked about one by one (`order=`).
    multi_status: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SmmV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmmV2").field("url", &self.url).field("key", &"***").finish()
    }
}

impl SmmV2 {
    pub fn new(http: reqwest::Client, url: &str, key: &str) -> Self {
        Self {
            http,
            url: url.to_string(),
            key: key.to_string(),
            multi_status: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// A client with the timeouts every connector uses.
    pub fn http_client(connect_timeout: Duration, timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kassa/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with timeouts builds")
    }

    async fn call(&self, action: &str, fields: &[(&str, String)]) -> Result<Value, CallError> {
        let mut form: Vec<(&str, &str)> = vec![("key", self.key.as_str()), ("action", action)];
        form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let response = self.http.post(&self.url).form(&form).send().await.map_err(|e| {
            // A connect failure means nothing was written to the provider; anything later
            // (a timeout while waiting, a reset) may come after it read the request.
            if e.is_connect() {
                CallError::NotSent(e.to_string())
            } else {
                CallError::Unknown(e.to_string())
            }
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| CallError::Unknown(format!("reading the answer: {e}")))?;
        classify(status, &body)
    }

    /// Places an order; returns the provider's order id.
    pub async fn add(
        &self,
        service: &str,
        link: &str,
        quantity: u64,
        comments: Option<&str>,
    ) -> Result<String, CallError> {
        let mut fields =
            vec![("service", service.to_string()), ("link", link.to_string()), ("quantity", quantity.to_string())];
        if let Some(comments) = comments {
            fields.push(("comments", comments.to_string()));
        }
        let value = self.call("add", &fields).await?;
        id_text(value.get("order")).ok_or_else(|| CallError::Unknown(format!("no order id in the answer {value}")))
    }

    /// Statuses of up to [`MAX_STATUS_BATCH`] orders in one call (`orders=1,2,3`). Each id maps to
    /// its status or the provider's error for it; ids missing from the answer are left out.
    ///
    /// One multi-status call (`orders=1,2,3`) when the panel supports it. A panel that does not
    /// (it refuses the call, or answers a single status or nothing for the ids) is asked order by
    /// order (`order=1`) from then on.
    pub async fn statuses(&self, ids: &[String]) -> Result<HashMap<String, Result<UpstreamStatus, String>>, CallError> {
        use std::sync::atomic::Ordering;
        assert!(ids.len() <= MAX_STATUS_BATCH, "at most {MAX_STATUS_BATCH} ids per status call");
        if self.multi_status.load(Ordering::Relaxed) {
            match self.call("status", &[("orders", ids.join(","))]).await {
                Ok(Value::Object(map)) if ids.iter().any(|id| map.contains_key(id)) => {
                    return Ok(ids
                        .iter()
                        .filter_map(|id| map.get(id).map(|v| (id.clone(), parse_status(v))))
                        .collect());
                }
                // Answered, but not as a multi-status panel would: the call is not supported.
                Ok(_) | Err(CallError::Refused(_)) => {
                    tracing::info!(url = %self.url, "the provider does not answer multi-status calls; polling one order per call");
                    self.multi_status.store(false, Ordering::Relaxed);
                }
                Err(other) => return Err(other),
            }
        }
        let mut reports = HashMap::new();
        for id in ids {
            match self.call("status", &[("order", id.clone())]).await {
                Ok(value) => reports.insert(id.clone(), parse_status(&value)),
                Err(CallError::Refused(error)) => reports.insert(id.clone(), Err(error)),
                Err(other) => return Err(other),
            };
        }
        Ok(reports)
    }

    /// Asks to cancel one order; `Ok` if the provider accepted the request.
    pub async fn cancel(&self, id: &str) -> Result<(), CallError> {
        let value = self.call("cancel", &[("orders", id.to_string())]).await?;
        let entry = value
            .as_array()
            .and_then(|entries| entries.iter().find(|e| id_text(e.get("order")).as_deref() == Some(id)))
            .ok_or_else(|| CallError::Unknown(format!("no answer for order {id} in {value}")))?;
        match entry.get("cancel") {
            Some(Value::Object(o)) => {
                Err(CallError::Refused(o.get("error").map(|e| e.to_string()).unwrap_or_default()))
            }
            Some(_) => Ok(()),
            None => Err(CallError::Unknown(format!("no cancel result in {entry}"))),
        }
    }

    /// Asks for a refill of one order; returns the provider's refill id.
    pub async fn refill(&self, id: &str) -> Result<String, CallError> {
        let value = self.call("refill", &[("order", id.to_string())]).await?;
        id_text(value.get("refill")).ok_or_else(|| CallError::Unknown(format!("no refill id in {value}")))
    }

    /// The provider's balance and currency, as it writes them.
    pub async fn balance(&self) -> Result<(String, String), CallError> {
        let value = self.call("balance", &[]).await?;
        let balance = match value.get("balance") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(CallError::Unknown(format!("no balance in {value}"))),
        };
        Ok((balance, value.get("currency").and_then(Value::as_str).unwrap_or("").to_string()))
    }

    /// The provider's catalogue, as it sends it.
    pub async fn services(&self) -> Result<Vec<Value>, CallError> {
        match self.call("services", &[]).await? {
            Value::Array(items) => Ok(items),
            other => Err(CallError::Unknown(format!("the services answer is not a list: {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_map_tolerantly_and_conclude_strictly() {
        assert_eq!(map_status("Completed"), Some(OrderStatus::Completed));
        assert_eq!(map_status(" in_progress "), Some(OrderStatus::InProgress));
        assert_eq!(map_status("In progress"), Some(OrderStatus::InProgress));
        assert_eq!(map_status("PARTIAL"), Some(OrderStatus::Partial));
        assert_eq!(map_status("Cancelled"), Some(OrderStatus::Canceled));
        assert_eq!(map_status("Pending"), Some(OrderStatus::Processing));
        assert_eq!(map_status("Fail"), None);
        assert_eq!(map_status(""), None);
    }

    #[test]
    fn numbers_come_as_strings_or_numbers() {
        let status = parse_status(
            &json!({"charge":"0.27819","start_count":"3572","status":"Partial","remains":"157","currency":"USD"}),
        )
        .unwrap();
        assert_eq!(
            (status.status, status.remains, status.start_count),
            (Some(OrderStatus::Partial), Some(157), Some(3572))
        );
        let status = parse_status(&json!({"status":"completed","remains":0,"start_count":"12.0"})).unwrap();
        assert_eq!(
            (status.status, status.remains, status.start_count),
            (Some(OrderStatus::Completed), Some(0), Some(12))
        );
        let garbled = parse_status(&json!({"status":"Partial","remains":"15.7"})).unwrap();
        assert_eq!(garbled.remains, None, "a fractional unit count is not trusted");
        let huge = parse_status(&json!({"status":"Canceled","remains":u64::MAX,"start_count":"9223372036854775808"}));
        assert_eq!(huge.map(|s| (s.remains, s.start_count)), Ok((None, None)), "no column holds these");
        let largest = parse_status(&json!({"status":"Canceled","remains":"9223372036854775807"})).unwrap();
        assert_eq!(largest.remains, Some(i64::MAX as u64));
        assert_eq!(parse_status(&json!({"error":"Incorrect order ID"})), Err("Incorrect order ID".into()));
        assert!(parse_status(&json!({"charge":"1"})).is_err());
        assert_eq!(id_text(Some(&json!(23501))), Some("23501".into()));
        assert_eq!(id_text(Some(&json!("23501"))), Some("23501".into()));
        assert_eq!(id_text(Some(&json!(null))), None);
    }

    #[test]
    fn only_an_error_without_a_result_is_a_refusal() {
        let ok = reqwest::StatusCode::OK;
        let answer = |body: Value| classify(ok, body.to_string().as_bytes());
        assert_eq!(answer(json!({"order": 9876, "error": null})).unwrap()["order"], 9876);
        assert!(answer(json!({"order": "9876", "error": ""})).is_ok());
        assert!(answer(json!({"refill": "1", "error": false})).is_ok());
        assert!(parse_status(&json!({"status": "Completed", "error": null})).is_ok());
        assert!(
            matches!(answer(json!({"error": "Incorrect service ID"})), Err(CallError::Refused(e)) if e == "Incorrect service ID")
        );
        // An error beside an order id: the provider may have placed it; not refunded as refused.
        assert!(matches!(answer(json!({"order": 9876, "error": "Duplicate"})), Err(CallError::Unknown(_))));
        assert!(matches!(answer(json!({"refill": "5", "error": "later"})), Err(CallError::Unknown(_))));
        let failing = classify(reqwest::StatusCode::BAD_GATEWAY, br#"{"error": "Upstream"}"#);
        assert!(matches!(failing, Err(CallError::Unknown(_))));
        assert!(matches!(classify(ok, b"<html>"), Err(CallError::Unknown(_))));
    }
}
