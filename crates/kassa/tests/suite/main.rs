//! kassa's behavioural test suite: the real server on loopback, the real SDK, a fresh database
//! per test, every test on every backend.

mod support;

mod abuse;
mod admin_cli;
mod api_cli;
mod auth;
mod bench;
mod cluster;
mod concurrency;
mod crash;
mod docs;
mod faults;
mod fulfilment;
mod fulfilment_cli;
mod ledger_model;
mod logs;
mod openapi;
mod orders;
mod plans;
mod profile;
mod restart;
mod rotation;
mod schemathesis;
mod sdk;
mod seed_clients;
mod verification;
mod verification_admin;
mod webhooks;
