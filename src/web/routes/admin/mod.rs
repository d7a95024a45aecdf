//! Administration pages (superusers; support staff read-only).

pub mod audit;
pub mod clients;
pub mod registration_tokens;
pub mod settings;
pub mod users;
pub mod websites;
