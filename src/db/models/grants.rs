//! The `oauth_grants` table: token families. Revoking a grant revokes every access and
//! refresh token issued under it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::changes::{Change, record};
use crate::db::schema::oauth_grants as grants;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    pub id: i64,
    pub client_id: i64,
    pub user_id: Option<i64>,
    pub code_id: Option<i64>,
    pub grant_type: String,
    pub scope: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// When and how the user signed in to authorize it (for the ID tokens of refreshes).
    pub auth_time: Option<NaiveDateTime>,
    pub amr: Option<String>,
    pub acr: Option<String>,
    /// The websites its tokens may act on (`SiteLimit`'s stored text; `None`: all).
    pub site_ids: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = grants)]
pub struct NewGrant<'a> {
    pub client_id: i64,
    pub user_id: Option<i64>,
    pub code_id: Option<i64>,
    pub grant_type: &'a str,
    pub scope: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Inserts the grant and returns its id (MySQL has no RETURNING; LAST_INSERT_ID is per connection).
pub fn insert(conn: &mut MysqlConnection, grant: &NewGrant) -> Result<i64, DbError> {
    diesel::insert_into(grants::table)
        .values(grant)
        .execute(conn)?;
    super::last_insert_id(conn)
}

pub fn find(conn: &mut MysqlConnection, id: i64) -> Result<Option<GrantRow>, DbError> {
    Ok(grants::table
        .find(id)
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?)
}

/// Revokes the grant; returns whether it was live until now.
pub fn revoke(conn: &mut MysqlConnection, id: i64, now: NaiveDateTime) -> Result<bool, DbError> {
    let n = diesel::update(
        grants::table
            .filter(grants::id.eq(id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    recorded(conn, n, Change::Grant(id)).map(|n| n == 1)
}

/// Records `change` when `n` rows were revoked; returns `n`.
fn recorded(conn: &mut MysqlConnection, n: usize, change: Change) -> Result<usize, DbError> {
    if n > 0 {
        record(conn, change)?;
    }
    Ok(n)
}

/// Revokes the grants the client got from a code (its replay); returns how many were live.
pub fn revoke_by_code(
    conn: &mut MysqlConnection,
    client_id: i64,
    code_id: i64,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let n = diesel::update(
        grants::table
            .filter(grants::client_id.eq(client_id))
            .filter(grants::code_id.eq(code_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    recorded(conn, n, Change::ClientGrants(client_id))
}

/// Revokes every live grant of a client (e.g. when it turns public).
pub fn revoke_for_client(
    conn: &mut MysqlConnection,
    client_id: i64,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let n = diesel::update(
        grants::table
            .filter(grants::client_id.eq(client_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    recorded(conn, n, Change::ClientGrants(client_id))
}

/// Grants whose every token has expired go, with their tokens (ON DELETE CASCADE).
pub fn delete_expired(conn: &mut MysqlConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(grants::table.filter(grants::expires_at.le(now))).execute(conn)?)
}

/// Revokes one user's grants for one client (the user withdrew their consent).
pub fn revoke_for_user(
    conn: &mut MysqlConnection,
    client_id: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let n = diesel::update(
        grants::table
            .filter(grants::client_id.eq(client_id))
            .filter(grants::user_id.eq(user_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    recorded(conn, n, Change::ClientGrants(client_id))
}

/// Limits the live grants `user_id` gave the client to these websites (Authorized
/// applications); returns how many.
pub fn set_sites_for_user(
    conn: &mut MysqlConnection,
    client_id: i64,
    user_id: i64,
    site_ids: Option<&str>,
) -> Result<usize, DbError> {
    let n = diesel::update(
        grants::table
            .filter(grants::client_id.eq(client_id))
            .filter(grants::user_id.eq(user_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::site_ids.eq(site_ids))
    .execute(conn)?;
    recorded(conn, n, Change::ClientGrants(client_id))
}

/// Limits the client's live client-credentials grants to these websites (its form).
pub fn set_sites_for_client_credentials(
    conn: &mut MysqlConnection,
    client_id: i64,
    site_ids: Option<&str>,
) -> Result<usize, DbError> {
    let n = diesel::update(
        grants::table
            .filter(grants::client_id.eq(client_id))
            .filter(grants::grant_type.eq(crate::domain::GrantType::ClientCredentials.as_str()))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::site_ids.eq(site_ids))
    .execute(conn)?;
    recorded(conn, n, Change::ClientGrants(client_id))
}

/// How many of the client's live grants are limited to chosen websites.
pub fn count_site_limited(
    conn: &mut MysqlConnection,
    client_id: i64,
    now: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(grants::table
        .filter(grants::client_id.eq(client_id))
        .filter(grants::revoked_at.is_null())
        .filter(grants::expires_at.gt(now))
        .filter(grants::site_ids.is_not_null())
        .count()
        .get_result(conn)?)
}

/// Revokes every live grant a user gave any client (their password was reset).
pub fn revoke_all_of_user(
    conn: &mut MysqlConnection,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let n = diesel::update(
        grants::table
            .filter(grants::user_id.eq(user_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    recorded(conn, n, Change::UserGrants(user_id))
}

/// Revokes a client's live grants whose scope or grant type it may no longer use.
pub fn revoke_outside(
    conn: &mut MysqlConnection,
    client_id: i64,
    scopes: &[&str],
    grant_types: &[&str],
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let n = diesel::update(
        grants::table
            .filter(grants::client_id.eq(client_id))
            .filter(grants::revoked_at.is_null())
            .filter(
                grants::scope
                    .ne_all(scopes)
                    .or(grants::grant_type.ne_all(grant_types)),
            ),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    recorded(conn, n, Change::ClientGrants(client_id))
}

/// How many unrevoked, unexpired grants the user has given.
pub fn count_live_of_user(
    conn: &mut MysqlConnection,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::revoked_at.is_null())
        .filter(grants::expires_at.gt(now))
        .count()
        .get_result(conn)?)
}
