//! Dynamic registration's initial access tokens.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::oauth_initial_access_tokens as iat;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = iat)]
pub struct InitialAccessTokenRow {
    pub id: i64,
    pub label: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub uses_left: i32,
    pub uses: i32,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_token(
    conn: &mut MysqlConnection,
    hash: &[u8],
    label: &str,
    created_by: &str,
    expires_at: NaiveDateTime,
    uses: i32,
) -> Result<i64, DbError> {
    diesel::insert_into(iat::table)
        .values((
            iat::token_hash.eq(hash),
            iat::label.eq(label),
            iat::created_by.eq(created_by),
            iat::created_at.eq(super::now()),
            iat::expires_at.eq(expires_at),
            iat::uses_left.eq(uses),
        ))
        .execute(conn)?;
    super::last_insert_id(conn)
}

pub fn list_tokens(conn: &mut MysqlConnection) -> Result<Vec<InitialAccessTokenRow>, DbError> {
    Ok(iat::table
        .order(iat::id.desc())
        .select(InitialAccessTokenRow::as_select())
        .load(conn)?)
}

/// Whether the token could be used now (it is spent later, with the registration).
pub fn token_is_live(
    conn: &mut MysqlConnection,
    hash: &[u8],
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n: i64 = iat::table
        .filter(iat::token_hash.eq(hash))
        .filter(iat::revoked_at.is_null())
        .filter(iat::expires_at.gt(now))
        .filter(iat::uses_left.gt(0))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Uses the token once: exactly one caller gets each remaining use, never past its expiry.
pub fn use_token(
    conn: &mut MysqlConnection,
    hash: &[u8],
    now: NaiveDateTime,
) -> Result<Option<i64>, DbError> {
    let Some(id) = iat::table
        .filter(iat::token_hash.eq(hash))
        .select(iat::id)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let n = diesel::update(
        iat::table
            .filter(iat::id.eq(id))
            .filter(iat::revoked_at.is_null())
            .filter(iat::expires_at.gt(now))
            .filter(iat::uses_left.gt(0)),
    )
    .set((
        iat::uses_left.eq(iat::uses_left - 1),
        iat::uses.eq(iat::uses + 1),
    ))
    .execute(conn)?;
    Ok((n == 1).then_some(id))
}

/// Revokes the token; returns whether it was live.
pub fn revoke_token(
    conn: &mut MysqlConnection,
    id: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(diesel::update(
        iat::table
            .filter(iat::id.eq(id))
            .filter(iat::revoked_at.is_null()),
    )
    .set(iat::revoked_at.eq(now))
    .execute(conn)?
        == 1)
}
