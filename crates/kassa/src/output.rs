//! How commands print: one JSON object with `--json` (for scripts), readable lines otherwise.

use kassa_core::Currency;
use kassa_store::present;
use kassa_store::{ApiKeyRecord, Customer, LedgerEntry, OrderRecord, ServiceRecord};
use serde_json::{json, Value};

pub fn emit(as_json: bool, value: &Value, text: impl FnOnce() -> String) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialize"));
    } else {
        println!("{}", text());
    }
}

pub fn customer(c: &Customer) -> Value {
    json!({
        "id": c.id.0,
        "user_id": c.user_id,
        "email": c.email,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "username": c.username,
        "phone": c.phone,
        "status": c.status.as_str(),
        "verified": c.verified,
        "created_at": present::rfc3339(c.created_at),
    })
}

pub fn api_key(k: &ApiKeyRecord) -> Value {
    json!({
        "api_key": k.api_key,
        "customer_id": k.customer_id.0,
        "status": k.status.as_str(),
        "allowed_ips": k.allowed_ips.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "allowed_services": k.allowed_services,
        "rate_limit_per_minute": k.rate_limit_per_minute,
        "created_at": present::rfc3339(k.created_at),
    })
}

pub fn service(currency: &Currency, s: &ServiceRecord) -> Value {
    let mut value = serde_json::to_value(present::service(currency, s)).expect("service serializes");
    value["active"] = json!(s.active);
    value["provider_id"] = json!(s.provider_id);
    value["provider_service"] = json!(s.provider_service);
    value["cancel_allowed"] = json!(s.cancel_allowed);
    value["refill_allowed"] = json!(s.refill_allowed);
    value
}

pub fn order(currency: &Currency, o: &OrderRecord) -> Value {
    let mut value = serde_json::to_value(present::order(currency, o)).expect("order serializes");
    value["customer_id"] = json!(o.customer_id.0);
    value["price_per_1000"] =
        serde_json::to_value(kassa_wire::Amount(o.price_per_1000.decimal())).expect("amount serializes");
    value["custom_comments"] = json!(o.custom_comments);
    value["idempotency_key"] = json!(o.idempotency_key);
    value["upstream"] = json!(o.upstream.as_str());
    value["provider_id"] = json!(o.provider_id);
    value["provider_service"] = json!(o.provider_service);
    value["provider_order_id"] = json!(o.provider_order_id);
    value["last_error"] = json!(o.last_error);
    value
}

pub fn ledger_entry(currency: &Currency, e: &LedgerEntry) -> Value {
    json!({
        "id": e.id,
        "customer_id": e.customer_id.0,
        "kind": e.kind.as_str(),
        "amount": present::money(currency, e.amount),
        "balance_after": present::money(currency, e.balance_after),
        "reference": e.reference,
        "order_id": e.order_id,
        "note": e.note,
        "created_at": present::rfc3339(e.created_at),
    })
}

/// Money as people read it: `12.50 USD`.
pub fn money_text(currency: &Currency, amount: kassa_core::Minor) -> String {
    format!("{} {}", currency.format(amount), currency.code())
}
