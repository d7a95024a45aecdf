//! One module per table: a `Row`/`New` pair where needed and `find_by_*`, `insert`,
//! `update_*`, `delete_*` functions that take a connection.
//! One more, `issued`, stores a batch of issued tokens across the token tables.

pub mod access_tokens;
pub mod annotations;
pub mod audit_events;
pub mod authorization_requests;
pub mod client_icons;
pub mod client_usage;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod device_codes;
pub mod grants;
pub mod issued;
pub mod leases;
pub mod oauth_settings;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod registration;
pub mod revoked_sessions;
pub mod secret_reveals;
pub mod server_secrets;
pub mod signing_keys;
pub mod site_access;
pub mod sites;
pub mod users;

/// The current time in UTC as stored in `DATETIME(6)` columns.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

diesel::define_sql_function! {
    /// MySQL's per-connection id of the last AUTO_INCREMENT insert (there is no RETURNING).
    #[sql_name = "LAST_INSERT_ID"]
    fn last_insert_id_sql() -> diesel::sql_types::Unsigned<diesel::sql_types::Bigint>;
}

/// The id the last insert on this connection generated.
pub fn last_insert_id(conn: &mut diesel::MysqlConnection) -> Result<i64, crate::db::DbError> {
    use diesel::RunQueryDsl;
    let id: u64 = diesel::select(self::last_insert_id_sql()).get_result(conn)?;
    Ok(id as i64)
}

/// Escapes `%`, `_` and the backslash so that typed text matches itself in a LIKE pattern.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A stored value no writer could have produced (a row edited by hand): a query error
/// naming the row, never a guess at what was meant.
fn corrupt(table: &str, id: i64, e: crate::domain::InvalidInput) -> crate::db::DbError {
    crate::db::DbError::from(diesel::result::Error::DeserializationError(
        format!("{table} row {id}: {e}").into(),
    ))
}
