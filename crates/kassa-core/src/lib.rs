//! The domain of kassa, free of I/O: exact money and pricing, typed ids, the order and
//! identity-verification state machines, the wire error codes and the validation of what
//! integrators send us (orders, profile edits, identity documents).
//!
//! Everything here is plain data and pure functions so that the server, the stores, the SDK and
//! the fuzzers can share one definition of each rule.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod crypto;
pub mod document;
pub mod error;
pub mod ids;
pub mod money;
pub mod order;
pub mod profile;
pub mod redact;
pub mod validation;
pub mod verification;

pub use error::ErrorCode;
pub use ids::{CustomerId, OrderId};
pub use money::{Currency, Minor, Price};
pub use order::OrderStatus;
