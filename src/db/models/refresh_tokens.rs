//! The `oauth_refresh_tokens` table. Like codes, a refresh token is exchanged with one
//! conditional UPDATE, so concurrent uses yield exactly one successor.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::oauth_refresh_tokens as tokens;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct RefreshTokenRow {
    pub id: i64,
    pub grant_id: i64,
    pub scope: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = tokens)]
pub struct NewRefreshToken<'a> {
    pub token_hash: &'a [u8],
    pub grant_id: i64,
    pub scope: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(conn: &mut MysqlConnection, token: &NewRefreshToken) -> Result<(), DbError> {
    diesel::insert_into(tokens::table)
        .values(token)
        .execute(conn)?;
    Ok(())
}

pub fn find_by_hash(
    conn: &mut MysqlConnection,
    hash: &[u8],
) -> Result<Option<RefreshTokenRow>, DbError> {
    Ok(tokens::table
        .filter(tokens::token_hash.eq(hash))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks the token exchanged; true only for the one caller that found it unused.
pub fn claim(conn: &mut MysqlConnection, id: i64, now: NaiveDateTime) -> Result<bool, DbError> {
    Ok(diesel::update(
        tokens::table
            .filter(tokens::id.eq(id))
            .filter(tokens::rotated_at.is_null()),
    )
    .set(tokens::rotated_at.eq(now))
    .execute(conn)?
        == 1)
}

pub fn delete_expired(conn: &mut MysqlConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(tokens::table.filter(tokens::expires_at.le(now))).execute(conn)?)
}
