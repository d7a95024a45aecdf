//! One module per table: a `Row`/`New` pair where needed and `find_by_*`, `insert`,
//! `update_*`, `delete_*` functions that take a connection.

pub mod audit_events;
pub mod clients;
pub mod login_failures;
pub mod oauth_settings;
pub mod revoked_sessions;
pub mod server_secrets;
pub mod users;

/// The current time in UTC as stored in `DATETIME(6)` columns.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
