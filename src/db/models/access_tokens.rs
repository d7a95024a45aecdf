//! The `oauth_access_tokens` table: one row per issued JWT, so that every access token stays
//! revocable by its `jti` and by its grant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::{oauth_access_tokens as tokens, oauth_grants};

/// What decides whether a signed, unexpired token is still good.
#[derive(Debug, Clone, Queryable)]
pub struct TokenFacts {
    pub grant_id: i64,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub grant_revoked_at: Option<NaiveDateTime>,
    /// The grant's user (for client credentials, the client's owner).
    pub user_id: Option<i64>,
    pub client_pk: i64,
    /// The grant's website limit (`SiteLimit`'s stored text).
    pub site_ids: Option<String>,
}

/// One primary-key lookup joined to its grant.
pub fn facts(conn: &mut MysqlConnection, jti: &str) -> Result<Option<TokenFacts>, DbError> {
    Ok(tokens::table
        .inner_join(oauth_grants::table)
        .filter(tokens::jti.eq(jti))
        .select((
            tokens::grant_id,
            tokens::expires_at,
            tokens::revoked_at,
            oauth_grants::revoked_at,
            oauth_grants::user_id,
            oauth_grants::client_id,
            oauth_grants::site_ids,
        ))
        .first(conn)
        .optional()?)
}

pub fn revoke(conn: &mut MysqlConnection, jti: &str, now: NaiveDateTime) -> Result<usize, DbError> {
    let n = diesel::update(
        tokens::table
            .filter(tokens::jti.eq(jti))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(now))
    .execute(conn)?;
    if n > 0 {
        crate::db::changes::record(conn, crate::db::changes::Change::Token(jti.to_string()))?;
    }
    Ok(n)
}

pub fn delete_expired(conn: &mut MysqlConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(tokens::table.filter(tokens::expires_at.le(now))).execute(conn)?)
}

/// When each of these clients last issued a token to this user (clients without a live
/// token row are absent).
pub fn last_issued_for_user(
    conn: &mut MysqlConnection,
    user_id: i64,
    client_ids: &[i64],
) -> Result<Vec<(i64, Option<NaiveDateTime>)>, DbError> {
    Ok(tokens::table
        .inner_join(oauth_grants::table)
        .filter(oauth_grants::user_id.eq(user_id))
        .filter(oauth_grants::client_id.eq_any(client_ids))
        .group_by(oauth_grants::client_id)
        .select((
            oauth_grants::client_id,
            diesel::dsl::max(tokens::created_at),
        ))
        .load(conn)?)
}
