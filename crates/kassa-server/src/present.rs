//! Records as the wire shows them. Shared by the API handlers and the admin CLI's `--json`, so
//! an order reads the same everywhere.

use chrono::{DateTime, SecondsFormat, Utc};
use kassa_core::{Currency, Minor};
use kassa_store::{OrderRecord, ServiceRecord, INITIAL_ORDER_STATUS};
use kassa_wire::v1::{CreatedOrder, Order, Service};
use kassa_wire::Amount;

pub fn money(currency: &Currency, amount: Minor) -> Amount {
    Amount(currency.to_decimal(amount))
}

/// RFC 3339 in UTC with milliseconds: `2026-11-22T11:12:13.456Z`.
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn service(currency: &Currency, s: &ServiceRecord) -> Service {
    Service {
        id: s.id,
        name: s.name.clone(),
        category: s.category.clone(),
        price_per_1000: Amount(s.price_per_1000.decimal()),
        price_per_unit: Amount(s.price_per_1000.per_unit()),
        currency: currency.code().to_string(),
        min: s.min,
        max: s.max,
        kind: s.kind.as_str().to_string(),
    }
}

/// The creation answer; built from fields fixed at creation, so a replay is the same body.
pub fn created_order(currency: &Currency, o: &OrderRecord) -> CreatedOrder {
    CreatedOrder {
        id: o.id.to_string(),
        woo_order_number: o.seq,
        status: INITIAL_ORDER_STATUS.as_str().to_string(),
        charge: money(currency, o.charge),
        currency: currency.code().to_string(),
        service_id: o.service_id,
        quantity: o.quantity,
        link: o.link.clone(),
        client_order_ref: o.client_order_ref.clone(),
    }
}

pub fn order(currency: &Currency, o: &OrderRecord) -> Order {
    Order {
        id: o.id.to_string(),
        woo_order_number: o.seq,
        service_id: o.service_id,
        service_name: o.service_name.clone(),
        quantity: o.quantity,
        link: o.link.clone(),
        client_order_ref: o.client_order_ref.clone(),
        status: o.status.as_str().to_string(),
        smm_status: o.smm_status.clone(),
        charge: money(currency, o.charge),
        refunded: money(currency, o.refunded),
        currency: currency.code().to_string(),
        remains: o.remains,
        start_count: o.start_count,
        created_at: rfc3339(o.created_at),
        updated_at: rfc3339(o.updated_at),
    }
}
