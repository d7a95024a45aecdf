//! The `oauth_secret_reveals` table: one row per pending one-time display of a new secret
//! (a client secret, or an initial access token, which belongs to no client).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::{oauth_clients, oauth_secret_reveals as reveals};

/// Records a pending display, tied to the client when there is one (so deleting the
/// client drops it); returns false when that client does not exist.
pub fn insert(
    conn: &mut MysqlConnection,
    nonce_hash: &[u8],
    client_id: Option<&str>,
    expires_at: NaiveDateTime,
) -> Result<bool, DbError> {
    let client = match client_id {
        Some(client_id) => {
            let Some(id) = oauth_clients::table
                .filter(oauth_clients::client_id.eq(client_id))
                .select(oauth_clients::id)
                .first::<i64>(conn)
                .optional()?
            else {
                return Ok(false);
            };
            Some(id)
        }
        None => None,
    };
    diesel::insert_into(reveals::table)
        .values((
            reveals::nonce_hash.eq(nonce_hash),
            reveals::client_id.eq(client),
            reveals::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Consumes the display: true for exactly one caller, and only before it expires.
pub fn claim(
    conn: &mut MysqlConnection,
    nonce_hash: &[u8],
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(diesel::delete(
        reveals::table
            .filter(reveals::nonce_hash.eq(nonce_hash))
            .filter(reveals::expires_at.gt(now)),
    )
    .execute(conn)?
        == 1)
}

pub fn delete_expired(conn: &mut MysqlConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(reveals::table.filter(reveals::expires_at.le(now))).execute(conn)?)
}
