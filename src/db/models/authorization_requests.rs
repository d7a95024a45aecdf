//! The `oauth_authorization_requests` table: a validated authorization request waiting for
//! the user's decision on the consent screen. The consent form carries only a random handle,
//! so the client, redirect URI and scopes come from here, never from the POST body.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::oauth_authorization_requests as requests;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = requests)]
pub struct AuthorizationRequestRow {
    pub handle_hash: Vec<u8>,
    pub user_id: i64,
    pub client_id: i64,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub scopes: String,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_at: NaiveDateTime,
    /// OpenID Connect: echoed in the ID token.
    pub nonce: Option<String>,
    /// OpenID Connect `acr_values`, as requested.
    pub acr: Option<String>,
    /// Opened from `/device`: the answer goes to this device code, not to a redirect.
    pub device_code_id: Option<i64>,
}

pub fn insert(conn: &mut MysqlConnection, row: &AuthorizationRequestRow) -> Result<(), DbError> {
    diesel::insert_into(requests::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The user's pending request, left pending.
pub fn find(
    conn: &mut MysqlConnection,
    handle_hash: &[u8],
    user_id: i64,
) -> Result<Option<AuthorizationRequestRow>, DbError> {
    Ok(requests::table
        .find(handle_hash)
        .filter(requests::user_id.eq(user_id))
        .select(AuthorizationRequestRow::as_select())
        .first(conn)
        .optional()?)
}

/// Removes and returns the request, so a decision is taken once.
pub fn take(
    conn: &mut MysqlConnection,
    handle_hash: &[u8],
    user_id: i64,
) -> Result<Option<AuthorizationRequestRow>, DbError> {
    let found = find(conn, handle_hash, user_id)?;
    if found.is_some() {
        let deleted = diesel::delete(requests::table.find(handle_hash)).execute(conn)?;
        // Two concurrent decisions: only the one that deleted the row proceeds.
        if deleted == 0 {
            return Ok(None);
        }
    }
    Ok(found)
}

pub fn delete_expired(conn: &mut MysqlConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(requests::table.filter(requests::expires_at.le(now))).execute(conn)?)
}
