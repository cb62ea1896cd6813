//! The HTTP surface: one module per dialect, plus health.

pub mod health;
pub mod v1;
