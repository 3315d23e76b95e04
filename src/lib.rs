//! authd: the composition root. Configuration, startup and telemetry live
//! here; everything else is in the workspace crates.

pub mod admin_keys;
pub mod cli;
pub mod config;
pub mod fingerprints;
pub mod keys;
mod redis_watch;
pub mod schema;
pub mod startup;
pub mod telemetry;
