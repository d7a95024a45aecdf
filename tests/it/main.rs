//! Integration tests: the real server on a random port, a fresh MySQL database per test.
//! One test binary (modules by area) so the suite links once.

mod api;
mod cli;
mod clients;
mod cluster;
mod common;
pub mod console;
mod database_outage;
mod flood;
mod health;
mod login;
mod mcp;
mod operations;
mod protocol;
mod protocol_rules;
mod registration;
mod rules;
mod rules_support;
mod security;
mod sessions;
mod template;
mod two_factor;
