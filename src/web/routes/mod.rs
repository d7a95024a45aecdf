//! Thin HTTP handlers: extract, convert to domain values, call `db::`/`auth::`, render.

pub mod account;
pub mod admin;
pub mod api;
pub mod assets;
pub mod client_ip;
pub mod device;
pub mod form;
pub mod health;
pub mod home;
pub mod login;
pub mod oauth;
pub mod page;
pub mod reveal;
pub mod second_factor;
