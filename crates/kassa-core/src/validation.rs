//! Validation of what integrators send: the order body, the idempotency key, pagination.
//!
//! Each check maps to exactly one wire error code so that the same bad input always gets the same
//! answer, whichever store or node handles it. Limits are named constants, documented in
//! `docs/api.md`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ErrorCode;
use crate::order::OrderStatus;

/// Longest accepted `link`, in bytes.
pub const MAX_LINK_LEN: usize = 2048;
/// Longest accepted `client_order_ref`, in characters.
pub const MAX_CLIENT_ORDER_REF_LEN: usize = 128;
/// Longest accepted `X-Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Largest accepted `quantity`: the largest integer every JSON client represents exactly.
pub const MAX_QUANTITY: u64 = (1 << 53) - 1;
/// Largest `custom_comments`, in bytes (the whole body is capped too, see the server).
pub const MAX_CUSTOM_COMMENTS_LEN: usize = 48 * 1024;
/// Default and largest `limit` when listing orders.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
pub const MAX_PAGE_LIMIT: u32 = 100;
/// Pages beyond this are refused: deep offsets cost the database for no real client need.
pub const MAX_PAGE: u32 = 10_000;

/// Why a request was refused: the wire code and, when it helps, which field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub field: Option<&'static str>,
    pub detail: Option<String>,
}

impl Rejection {
    pub fn new(code: ErrorCode) -> Self {
        Self { code, field: None, detail: None }
    }

    pub fn on(code: ErrorCode, field: &'static str, detail: impl Into<String>) -> Self {
        Self { code, field: Some(field), detail: Some(detail.into()) }
    }
}

/// A create-order request that passed every check that needs no database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub service_id: i64,
    pub quantity: u64,
    pub link: String,
    pub client_order_ref: Option<String>,
    /// The comments, one per non-empty line, already split.
    pub custom_comments: Option<Vec<String>>,
}

impl OrderRequest {
    /// Parses the JSON body of `POST /api/v1/orders`. Unknown fields are ignored so that clients
    /// may send more than we read; known fields are checked strictly.
    pub fn from_json(body: &Value) -> Result<Self, Rejection> {
        let object = body
            .as_object()
            .ok_or_else(|| Rejection::on(ErrorCode::InvalidJson, "body", "the body must be a JSON object"))?;

        let service_id =
            positive_integer(object.get("service_id")).filter(|&id| id <= i64::MAX as u64).ok_or_else(|| {
                Rejection::on(ErrorCode::InvalidServiceOrQuantity, "service_id", "must be a positive integer")
            })? as i64;
        let quantity = positive_integer(object.get("quantity")).filter(|&q| q <= MAX_QUANTITY).ok_or_else(|| {
            Rejection::on(ErrorCode::InvalidServiceOrQuantity, "quantity", "must be a positive integer")
        })?;

        let link = match object.get("link") {
            None | Some(Value::Null) => return Err(Rejection::new(ErrorCode::MissingLink)),
            Some(Value::String(s)) if s.trim().is_empty() => return Err(Rejection::new(ErrorCode::MissingLink)),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(_) => return Err(Rejection::on(ErrorCode::InvalidLink, "link", "must be a string")),
        };
        if link.len() > MAX_LINK_LEN {
            return Err(Rejection::on(ErrorCode::InvalidLink, "link", format!("longer than {MAX_LINK_LEN} bytes")));
        }
        if link.chars().any(char::is_control) {
            return Err(Rejection::on(ErrorCode::InvalidLink, "link", "contains control characters"));
        }

        let client_order_ref = match object.get("client_order_ref") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(client_order_ref(s)?),
            Some(_) => {
                return Err(Rejection::on(ErrorCode::InvalidClientOrderRef, "client_order_ref", "must be a string"))
            }
        };

        let custom_comments = match object.get("custom_comments") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(split_comments(s)?),
            Some(_) => {
                return Err(Rejection::on(
                    ErrorCode::InvalidCustomComments,
                    "custom_comments",
                    "must be a string with one comment per line",
                ))
            }
        };

        Ok(Self { service_id, quantity, link, client_order_ref, custom_comments })
    }

    /// What makes two requests "the same order" for idempotency: the normalized fields, not the
    /// raw bytes, so a client that re-serializes its retry with other spacing still gets a replay.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        let comments = self.custom_comments.as_ref().map(|c| c.join("\n"));
        for part in [
            Some(self.service_id.to_string()),
            Some(self.quantity.to_string()),
            Some(self.link.clone()),
            self.client_order_ref.clone(),
            comments,
        ] {
            // Length-prefix every part so ("ab","c") and ("a","bc") differ.
            match part {
                Some(p) => {
                    hash.update((p.len() as u64 + 1).to_be_bytes());
                    hash.update(p.as_bytes());
                }
                None => hash.update(0u64.to_be_bytes()),
            }
        }
        hash.finalize().into()
    }
}

/// A positive integer sent as a JSON integer or as a string of digits (PHP clients often send
/// form values as strings). Fractions, exponents, signs and zero are refused.
fn positive_integer(value: Option<&Value>) -> Option<u64> {
    let n = match value? {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    (n > 0).then_some(n)
}

fn client_order_ref(text: &str) -> Result<String, Rejection> {
    let count = text.chars().count();
    if count == 0 || count > MAX_CLIENT_ORDER_REF_LEN || text.chars().any(char::is_control) {
        return Err(Rejection::on(
            ErrorCode::InvalidClientOrderRef,
            "client_order_ref",
            format!("must be 1 to {MAX_CLIENT_ORDER_REF_LEN} characters without control characters"),
        ));
    }
    Ok(text.to_string())
}

/// One comment per line; blank lines are skipped; `\r\n` endings are accepted. Other control
/// characters are refused (a tab inside a comment aside): they are no text a provider could post,
/// and PostgreSQL cannot store a NUL at all.
pub fn split_comments(text: &str) -> Result<Vec<String>, Rejection> {
    if text.len() > MAX_CUSTOM_COMMENTS_LEN {
        return Err(Rejection::on(
            ErrorCode::InvalidCustomComments,
            "custom_comments",
            format!("longer than {MAX_CUSTOM_COMMENTS_LEN} bytes"),
        ));
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| line.trim_end_matches('\r').trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    if lines.iter().any(|line| line.chars().any(|c| c.is_control() && c != '\t')) {
        return Err(Rejection::on(
            ErrorCode::InvalidCustomComments,
            "custom_comments",
            "contains control characters (one comment per line, separated by \\n)",
        ));
    }
    Ok(lines)
}

/// Checks `X-Idempotency-Key`: 1–255 printable ASCII characters (space included, control
/// characters and non-ASCII refused).
pub fn idempotency_key(header: Option<&[u8]>) -> Result<String, Rejection> {
    let raw = header.ok_or_else(|| Rejection::new(ErrorCode::MissingIdempotencyKey))?;
    if raw.is_empty() {
        return Err(Rejection::new(ErrorCode::MissingIdempotencyKey));
    }
    if raw.len() > MAX_IDEMPOTENCY_KEY_LEN || !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(Rejection::new(ErrorCode::InvalidIdempotencyKey));
    }
    Ok(String::from_utf8(raw.to_vec()).expect("printable ASCII is UTF-8"))
}

/// An idempotency key a request may carry (a refill): none without the header; one sent empty is
/// a client's mistake (`invalid_idempotency_key`), not a request without a key.
pub fn optional_idempotency_key(header: Option<&[u8]>) -> Result<Option<String>, Rejection> {
    match header {
        None => Ok(None),
        Some([]) => Err(Rejection::on(
            ErrorCode::InvalidIdempotencyKey,
            "X-Idempotency-Key",
            "empty: send a key, or leave the header out",
        )),
        Some(raw) => idempotency_key(Some(raw)).map(Some),
    }
}

/// A validated page request for `GET /api/v1/orders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
    pub status: Option<OrderStatus>,
}

impl PageRequest {
    pub fn offset(&self) -> u64 {
        (self.page as u64 - 1) * self.limit as u64
    }

    /// Parses the raw query values; absent values take their defaults, and a value that is given
    /// must be valid (`page=` is refused, not read as page 1).
    pub fn parse(page: Option<&str>, limit: Option<&str>, status: Option<&str>) -> Result<Self, Rejection> {
        let number = |text: Option<&str>, field: &'static str, default: u32, max: u32| match text {
            None => Ok(default),
            Some(t) => t.parse::<u32>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
                Rejection::on(ErrorCode::InvalidPagination, field, format!("must be an integer from 1 to {max}"))
            }),
        };
        let page = number(page, "page", 1, MAX_PAGE)?;
        let limit = number(limit, "limit", DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT)?;
        let status = match status {
            None => None,
            Some(s) => Some(s.parse::<OrderStatus>().map_err(|_| {
                let all: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                Rejection::on(ErrorCode::InvalidStatusFilter, "status", format!("must be one of {}", all.join(", ")))
            })?),
        };
        Ok(Self { page, limit, status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(body: Value) -> ErrorCode {
        OrderRequest::from_json(&body).unwrap_err().code
    }

    #[test]
    fn parses_the_seed_payload() {
        let body = json!({
            "service_id": 123, "quantity": 1000,
            "link": "https://www.tiktok.com/@username/video/123",
            "client_order_ref": "your-order-10001",
            "custom_comments": "Great post!\nAmazing content!"
        });
        let request = OrderRequest::from_json(&body).unwrap();
        assert_eq!(request.service_id, 123);
        assert_eq!(request.quantity, 1000);
        assert_eq!(request.custom_comments.unwrap(), vec!["Great post!", "Amazing content!"]);
    }

    #[test]
    fn maps_each_bad_field_to_its_code() {
        use ErrorCode::*;
        assert_eq!(code(json!({"quantity": 1, "link": "x"})), InvalidServiceOrQuantity);
        assert_eq!(code(json!({"service_id": 0, "quantity": 1, "link": "x"})), InvalidServiceOrQuantity);
        assert_eq!(code(json!({"service_id": 1, "quantity": 1.5, "link": "x"})), InvalidServiceOrQuantity);
        assert_eq!(code(json!({"service_id": 1, "quantity": -1, "link": "x"})), InvalidServiceOrQuantity);
        assert_eq!(code(json!({"service_id": "1x", "quantity": 1, "link": "x"})), InvalidServiceOrQuantity);
        assert_eq!(code(json!({"service_id": 1, "quantity": 1})), MissingLink);
        assert_eq!(code(json!({"service_id": 1, "quantity": 1, "link": "  "})), MissingLink);
        assert_eq!(code(json!({"service_id": 1, "quantity": 1, "link": "x".repeat(2049)})), InvalidLink);
        assert_eq!(code(json!({"service_id": 1, "quantity": 1, "link": "a\u{0}b"})), InvalidLink);
        assert_eq!(
            code(json!({"service_id": 1, "quantity": 1, "link": "x", "client_order_ref": 5})),
            InvalidClientOrderRef
        );
        assert_eq!(
            code(json!({"service_id": 1, "quantity": 1, "link": "x", "custom_comments": ["a"]})),
            InvalidCustomComments
        );
        for comments in ["ok\na\u{0}b", "a\rb", "\u{1b}[31mred"] {
            assert_eq!(
                code(json!({"service_id": 1, "quantity": 1, "link": "x", "custom_comments": comments})),
                InvalidCustomComments,
                "{comments:?}"
            );
        }
        let tabbed = json!({"service_id": 1, "quantity": 2, "link": "x", "custom_comments": "a\tb\r\nc\n"});
        assert_eq!(OrderRequest::from_json(&tabbed).unwrap().custom_comments.unwrap(), vec!["a\tb", "c"]);
        assert_eq!(code(json!([1, 2])), InvalidJson);
        assert!(OrderRequest::from_json(&json!({"service_id": "7", "quantity": "10", "link": "x"})).is_ok());
    }

    #[test]
    fn fingerprint_ignores_serialization_but_not_content() {
        let a = OrderRequest::from_json(&json!({"service_id": 1, "quantity": 10, "link": "x"})).unwrap();
        let b = OrderRequest::from_json(&json!({"link": " x ", "quantity": "10", "service_id": 1})).unwrap();
        let c = OrderRequest::from_json(&json!({"service_id": 1, "quantity": 11, "link": "x"})).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn idempotency_keys_are_printable_ascii() {
        assert_eq!(idempotency_key(None).unwrap_err().code, ErrorCode::MissingIdempotencyKey);
        assert_eq!(idempotency_key(Some(b"")).unwrap_err().code, ErrorCode::MissingIdempotencyKey);
        assert_eq!(idempotency_key(Some(&[b'a'; 256])).unwrap_err().code, ErrorCode::InvalidIdempotencyKey);
        assert_eq!(idempotency_key(Some(b"a\tb")).unwrap_err().code, ErrorCode::InvalidIdempotencyKey);
        assert_eq!(idempotency_key(Some(b"order-1 x")).unwrap(), "order-1 x");
    }

    #[test]
    fn pagination_has_defaults_and_bounds() {
        let p = PageRequest::parse(None, None, None).unwrap();
        assert_eq!((p.page, p.limit, p.status), (1, 50, None));
        assert_eq!(PageRequest::parse(Some("2"), Some("10"), Some("pending")).unwrap().offset(), 10);
        for (page, limit) in
            [("0", "1"), ("1", "0"), ("1", "101"), ("x", "1"), ("-1", "1"), ("10001", "1"), ("", "1"), ("1", "")]
        {
            assert_eq!(
                PageRequest::parse(Some(page), Some(limit), None).unwrap_err().code,
                ErrorCode::InvalidPagination
            );
        }
        assert_eq!(PageRequest::parse(None, None, Some("lost")).unwrap_err().code, ErrorCode::InvalidStatusFilter);
        assert_eq!(PageRequest::parse(None, None, Some("")).unwrap_err().code, ErrorCode::InvalidStatusFilter);
    }
}
