//! The `user_recovery_codes` table: one-time codes for a user who lost their
//! authenticator, stored only as hashes.

use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::user_recovery_codes as codes;

/// Replaces the user's codes with these hashes.
pub fn replace(
    conn: &mut MysqlConnection,
    user_id: i64,
    hashes: &[[u8; 32]],
) -> Result<(), DbError> {
    delete_all(conn, user_id)?;
    let now = super::now();
    let rows: Vec<_> = hashes
        .iter()
        .map(|h| {
            (
                codes::user_id.eq(user_id),
                codes::code_hash.eq(h.as_slice()),
                codes::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(codes::table)
        .values(&rows)
        .execute(conn)?;
    Ok(())
}

/// Uses the code with this hash once: true for exactly one of any number of concurrent uses.
pub fn use_once(
    conn: &mut MysqlConnection,
    user_id: i64,
    hash: &[u8; 32],
) -> Result<bool, DbError> {
    let used = diesel::update(
        codes::table
            .filter(codes::user_id.eq(user_id))
            .filter(codes::code_hash.eq(hash.as_slice()))
            .filter(codes::used_at.is_null()),
    )
    .set(codes::used_at.eq(Some(super::now())))
    .execute(conn)?;
    Ok(used == 1)
}

/// How many of the user's codes are still unused.
pub fn count_unused(conn: &mut MysqlConnection, user_id: i64) -> Result<i64, DbError> {
    Ok(codes::table
        .filter(codes::user_id.eq(user_id))
        .filter(codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

pub fn delete_all(conn: &mut MysqlConnection, user_id: i64) -> Result<usize, DbError> {
    Ok(diesel::delete(codes::table.filter(codes::user_id.eq(user_id))).execute(conn)?)
}
