//! Schemas the derives cannot infer: string fields that hold one of a few words, and fields
//! that take more than one JSON type. Used through `#[schema(schema_with = ...)]`.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

fn words(values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied())).into()
}

pub fn order_status() -> RefOr<Schema> {
    words(&crate::v1::ORDER_STATUSES)
}

pub fn service_type() -> RefOr<Schema> {
    words(&crate::v1::SERVICE_TYPES)
}

pub fn cancel_outcome() -> RefOr<Schema> {
    words(&["canceled", "requested"])
}

pub fn refill_status() -> RefOr<Schema> {
    words(&["requested", "pending", "completed", "rejected"])
}

/// `1` or `2`, as a number or a string.
pub fn gender() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer).enum_values(Some([1, 2])))
        .item(words(&["1", "2"]))
        .description(Some("`1` (male) or `2` (female), as a number or a string."))
        .into()
}

/// `"0"` or `"1"`.
pub fn zero_or_one() -> RefOr<Schema> {
    words(&["0", "1"])
}
