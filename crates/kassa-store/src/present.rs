//! Records as the wire shows them. Shared by the API handlers and the admin CLI's `--json`, so
//! an order reads the same everywhere.

use crate::model::{Customer, DocumentSlot, OrderRecord, ServiceRecord, VerificationRecord, INITIAL_ORDER_STATUS};
use chrono::{DateTime, SecondsFormat, Utc};
use kassa_core::{Currency, Minor};
use kassa_wire::profile::{Profile, Verification};
use kassa_wire::v1::{CreatedOrder, Order, Service};
use kassa_wire::Amount;

pub fn money(currency: &Currency, amount: Minor) -> Amount {
    Amount(currency.to_decimal(amount))
}

/// RFC 3339 in UTC with milliseconds: `2026-11-22T11:12:13.456Z`.
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The profile dialect's time: `2021-08-26 13:12:45`, UTC.
pub fn profile_time(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_default().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `profile/me`, in the seed's shape: ids and flags as strings, `null` where unset.
pub fn profile(c: &Customer) -> Profile {
    Profile {
        id: c.id.to_string(),
        user_id: c.user_id.clone(),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        username: c.username.clone(),
        email: Some(c.email.clone()),
        phone: c.phone.clone(),
        language: c.language.clone(),
        country: c.country.clone(),
        city: c.city.clone(),
        address: c.address.clone(),
        bio: c.bio.clone(),
        verified: if c.verified { "1" } else { "0" }.to_string(),
        created: profile_time(c.created_at),
        moderator: c.moderator.clone(),
        chat_status: c.chat_status.clone(),
    }
}

/// The answer to `profile/verify`. Names no personal data: the client sent it, it needs no echo.
pub fn verification(v: &VerificationRecord) -> Verification {
    let document =
        |slot: DocumentSlot| v.documents.iter().find(|d| d.slot == slot).map(|d| d.kind.as_str().to_string());
    Verification {
        id: v.id.to_string(),
        status: v.status.as_str().to_string(),
        verify_type: v.verify_type.as_str().to_string(),
        document1: document(DocumentSlot::One),
        document2: document(DocumentSlot::Two),
        submitted: profile_time(v.submitted_at),
    }
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

/// The body of an `order.status_changed` webhook: the order right after the change.
pub fn status_event(currency: &Currency, o: &OrderRecord, previous: kassa_core::OrderStatus, at: i64) -> String {
    let event = kassa_wire::webhook::Event {
        kind: kassa_wire::webhook::ORDER_STATUS_CHANGED.to_string(),
        timestamp: rfc3339(at),
        data: kassa_wire::webhook::EventData {
            order: order(currency, o),
            previous_status: previous.as_str().to_string(),
        },
    };
    serde_json::to_string(&event).expect("events serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_times_have_the_seeds_form() {
        // 2021-08-26 13:12:45 UTC, the seed's example.
        assert_eq!(profile_time(1_629_983_565_000), "2021-08-26 13:12:45");
        assert_eq!(profile_time(1_629_983_565_999), "2021-08-26 13:12:45");
    }
}
