//! What travels between integrators and kassa: the JSON bodies of both API dialects and the two
//! request-signing schemes. The server and the SDK both use this crate, so a field renamed here
//! is renamed for both and a signing change is tested once.
#![forbid(unsafe_code)]

pub mod amount;
pub mod profile;
pub mod schema;
pub mod sign;
pub mod v1;
pub mod webhook;

pub use amount::Amount;
