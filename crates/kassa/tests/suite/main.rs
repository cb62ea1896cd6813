//! kassa's behavioural test suite: the real server on loopback, the real SDK, a fresh database
//! per test, every test on every backend.

mod support;

mod auth;
mod orders;
