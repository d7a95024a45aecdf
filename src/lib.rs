//! Consentry: an OAuth 2.0 authorization server with an administration console.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod oauth;
pub mod sites;
pub mod telemetry;
pub mod web;
