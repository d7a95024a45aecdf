//! Session ids that were signed out and must not be accepted again.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::revoked_sessions;

pub fn insert(
    conn: &mut MysqlConnection,
    sid: &str,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::replace_into(revoked_sessions::table)
        .values((
            revoked_sessions::sid.eq(sid),
            revoked_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn is_revoked(conn: &mut MysqlConnection, sid: &str) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(revoked_sessions::table.find(sid))).get_result(conn)?)
}

pub fn delete_expired(conn: &mut MysqlConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::delete(revoked_sessions::table.filter(revoked_sessions::expires_at.lt(now)))
            .execute(conn)?,
    )
}
