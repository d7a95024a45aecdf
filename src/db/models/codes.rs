//! The `oauth_authorization_codes` table. A code is claimed with one conditional UPDATE, so
//! of any number of concurrent redemptions exactly one succeeds (the claim is in `issued`,
//! with the batch that stores the tokens it gives).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::oauth_authorization_codes as codes;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = codes)]
pub struct CodeRow {
    pub id: i64,
    pub client_id: i64,
    pub user_id: i64,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    /// OpenID Connect: the request's nonce, and when and how the user signed in.
    pub nonce: Option<String>,
    pub auth_time: Option<NaiveDateTime>,
    pub amr: Option<String>,
    pub acr: Option<String>,
    /// The websites chosen on the consent screen (`SiteLimit`'s stored text).
    pub site_ids: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = codes)]
pub struct NewCode<'a> {
    pub code_hash: &'a [u8],
    pub client_id: i64,
    pub user_id: i64,
    pub redirect_uri: &'a str,
    pub redirect_uri_given: bool,
    pub scope: &'a str,
    pub code_challenge: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub nonce: Option<&'a str>,
    pub auth_time: NaiveDateTime,
    pub amr: &'a str,
    pub acr: Option<&'a str>,
    pub site_ids: Option<&'a str>,
}

pub fn insert(conn: &mut MysqlConnection, code: &NewCode) -> Result<(), DbError> {
    diesel::insert_into(codes::table)
        .values(code)
        .execute(conn)?;
    Ok(())
}

/// Stores a code and returns its row id (for a device code, which names it).
pub fn insert_returning_id(conn: &mut MysqlConnection, code: &NewCode) -> Result<i64, DbError> {
    insert(conn, code)?;
    super::last_insert_id(conn)
}

pub fn find_by_id(conn: &mut MysqlConnection, id: i64) -> Result<Option<CodeRow>, DbError> {
    Ok(codes::table
        .find(id)
        .select(CodeRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_hash(conn: &mut MysqlConnection, hash: &[u8]) -> Result<Option<CodeRow>, DbError> {
    Ok(codes::table
        .filter(codes::code_hash.eq(hash))
        .select(CodeRow::as_select())
        .first(conn)
        .optional()?)
}

/// Codes expired before `before` can no longer be redeemed or replayed meaningfully.
pub fn delete_expired(conn: &mut MysqlConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(codes::table.filter(codes::expires_at.le(before))).execute(conn)?)
}

/// Voids a user's unredeemed codes for a client, so none outlives a withdrawn consent.
pub fn delete_unused_for_user(
    conn: &mut MysqlConnection,
    client_id: i64,
    user_id: i64,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        codes::table
            .filter(codes::client_id.eq(client_id))
            .filter(codes::user_id.eq(user_id))
            .filter(codes::used_at.is_null()),
    )
    .execute(conn)?)
}

/// Voids every unredeemed code of a user, whatever the client.
pub fn delete_all_unused_of_user(
    conn: &mut MysqlConnection,
    user_id: i64,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        codes::table
            .filter(codes::user_id.eq(user_id))
            .filter(codes::used_at.is_null()),
    )
    .execute(conn)?)
}
