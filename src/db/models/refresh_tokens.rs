//! The `oauth_refresh_tokens` table. Like codes, a refresh token is exchanged with one
//! conditional UPDATE, so concurrent uses yield exactly one successor (the claim is in
//! `issued`, with the batch that stores the successor).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::models::grants::GrantRow;
use crate::db::schema::{oauth_grants, oauth_refresh_tokens as tokens};

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

/// The token with its grant, in one query (the token endpoint's one read).
pub fn find_with_grant(
    conn: &mut MysqlConnection,
    hash: &[u8],
) -> Result<Option<(RefreshTokenRow, GrantRow)>, DbError> {
    Ok(tokens::table
        .inner_join(oauth_grants::table)
        .filter(tokens::token_hash.eq(hash))
        .select((RefreshTokenRow::as_select(), GrantRow::as_select()))
        .first(conn)
        .optional()?)
}

pub fn delete_expired(conn: &mut MysqlConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(tokens::table.filter(tokens::expires_at.le(now))).execute(conn)?)
}
