//! One module per subcommand.

pub mod admin;
pub mod api;
pub mod background;
pub mod bench;
pub mod demo;
pub mod migrate;
pub mod provider_sim;
pub mod serve;
pub mod worker;
