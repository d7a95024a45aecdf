//! The `oauth_access_tokens` table: one row per issued JWT, so that every access token stays
//! revocable by its `jti` and by its grant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::{oauth_access_tokens as tokens, oauth_clients, oauth_grants, users};
use crate::domain::{ClientStatus, Scope};

#[derive(Insertable)]
#[diesel(table_name = tokens)]
pub struct NewAccessToken<'a> {
    pub jti: &'a str,
    pub grant_id: i64,
    pub scope: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(conn: &mut MysqlConnection, token: &NewAccessToken) -> Result<(), DbError> {
    diesel::insert_into(tokens::table)
        .values(token)
        .execute(conn)?;
    Ok(())
}

/// What decides whether a signed, unexpired token is still good.
#[derive(Debug, Clone)]
pub struct AccessTokenState {
    pub grant_id: i64,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub grant_revoked_at: Option<NaiveDateTime>,
    pub user_id: Option<i64>,
    pub client_pk: i64,
    pub client_id: String,
    pub client_status: ClientStatus,
    pub client_scopes: Vec<Scope>,
    pub client_last_used_at: Option<NaiveDateTime>,
    /// The grant's user (for client credentials, the client's owner).
    pub user_login: Option<String>,
    pub user_role: Option<String>,
}

/// [`AccessTokenState`] as stored, before its client's status and scopes are typed.
#[derive(Queryable)]
struct StateRow {
    grant_id: i64,
    expires_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
    grant_revoked_at: Option<NaiveDateTime>,
    user_id: Option<i64>,
    client_pk: i64,
    client_id: String,
    client_status: String,
    client_scopes: String,
    client_last_used_at: Option<NaiveDateTime>,
    user_login: Option<String>,
    user_role: Option<String>,
}

impl StateRow {
    fn typed(self) -> Result<AccessTokenState, DbError> {
        let corrupt = |e| super::corrupt("oauth_clients", self.client_pk, e);
        Ok(AccessTokenState {
            client_status: ClientStatus::parse(&self.client_status).map_err(corrupt)?,
            client_scopes: Scope::parse_list(&self.client_scopes).map_err(corrupt)?,
            grant_id: self.grant_id,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            grant_revoked_at: self.grant_revoked_at,
            user_id: self.user_id,
            client_pk: self.client_pk,
            client_id: self.client_id,
            client_last_used_at: self.client_last_used_at,
            user_login: self.user_login,
            user_role: self.user_role,
        })
    }
}

/// One primary-key lookup joined to its grant, client and user.
pub fn state(conn: &mut MysqlConnection, jti: &str) -> Result<Option<AccessTokenState>, DbError> {
    tokens::table
        .inner_join(oauth_grants::table.inner_join(oauth_clients::table))
        .left_join(users::table.on(users::id.nullable().eq(oauth_grants::user_id)))
        .filter(tokens::jti.eq(jti))
        .select((
            tokens::grant_id,
            tokens::expires_at,
            tokens::revoked_at,
            oauth_grants::revoked_at,
            oauth_grants::user_id,
            oauth_clients::id,
            oauth_clients::client_id,
            oauth_clients::status,
            oauth_clients::scopes,
            oauth_clients::last_used_at,
            users::login.nullable(),
            users::role.nullable(),
        ))
        .first::<StateRow>(conn)
        .optional()?
        .map(StateRow::typed)
        .transpose()
}

pub fn revoke(conn: &mut MysqlConnection, jti: &str, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::update(
        tokens::table
            .filter(tokens::jti.eq(jti))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(now))
    .execute(conn)?)
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
