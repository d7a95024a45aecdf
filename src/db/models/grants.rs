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

pub fn extend_expiry(
    conn: &mut MysqlConnection,
    id: i64,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(
        grants::table
            .filter(grants::id.eq(id))
            .filter(grants::expires_at.lt(expires_at)),
    )
    .set(grants::expires_at.eq(expires_at))
    .execute(conn)?;
    Ok(())
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

/// A token issued with a grant of its own (client credentials): the grant row and the
/// access-token row share scope and lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub jti: String,
    pub client_id: i64,
    /// The secret hash the request authenticated against (from this server's memory).
    pub secret_hash: Vec<u8>,
    pub user_id: Option<i64>,
    pub grant_type: &'static str,
    pub scope: &'static str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Stores a batch of issued tokens with their grants in four statements, whatever its
/// size; returns each token's grant id, in the batch's order. Runs in the caller's
/// transaction.
///
/// The clients are locked first and must still be active with the secret each request
/// authenticated against: a request may have been checked against memory a moment behind
/// another server's pause or new secret. A change committed before this batch fails it
/// (as a vanished client: `invalid_client`); one arriving during it waits for the commit
/// and then revokes what the batch stored.
pub fn insert_issued(
    conn: &mut MysqlConnection,
    batch: &[IssuedToken],
) -> Result<Vec<i64>, DbError> {
    use crate::db::schema::oauth_access_tokens as tokens;
    use crate::db::schema::oauth_clients as clients;
    let mut client_ids: Vec<i64> = batch.iter().map(|t| t.client_id).collect();
    client_ids.sort_unstable();
    client_ids.dedup();
    let current: Vec<(i64, String, Option<Vec<u8>>)> = clients::table
        .filter(clients::id.eq_any(&client_ids))
        .order(clients::id.asc())
        .select((clients::id, clients::status, clients::secret_hash))
        .for_update()
        .load(conn)?;
    let active = crate::domain::ClientStatus::Active.as_str();
    for t in batch {
        let unchanged = current.iter().any(|(id, status, hash)| {
            *id == t.client_id && status == active && hash.as_deref() == Some(&t.secret_hash)
        });
        if !unchanged {
            return Err(DbError::Vanished(format!(
                "the client of token {} was paused, given a new secret or deleted meanwhile (`client_id`)",
                t.jti
            )));
        }
    }
    let grant_rows: Vec<_> = batch
        .iter()
        .map(|t| {
            (
                grants::client_id.eq(t.client_id),
                grants::user_id.eq(t.user_id),
                grants::grant_type.eq(t.grant_type),
                grants::scope.eq(t.scope),
                grants::created_at.eq(t.created_at),
                grants::expires_at.eq(t.expires_at),
                grants::first_jti.eq(Some(t.jti.as_str())),
            )
        })
        .collect();
    diesel::insert_into(grants::table)
        .values(&grant_rows)
        .execute(conn)?;
    let jtis: Vec<&str> = batch.iter().map(|t| t.jti.as_str()).collect();
    let ids: std::collections::HashMap<String, i64> = grants::table
        .filter(grants::first_jti.eq_any(&jtis))
        .select((grants::first_jti.assume_not_null(), grants::id))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let mut grant_ids = Vec::with_capacity(batch.len());
    let mut token_rows = Vec::with_capacity(batch.len());
    for t in batch {
        let id = *ids.get(&t.jti).ok_or_else(|| {
            DbError::Vanished(format!(
                "the grant of token {} was not found after its insert",
                t.jti
            ))
        })?;
        grant_ids.push(id);
        token_rows.push((
            tokens::jti.eq(t.jti.as_str()),
            tokens::grant_id.eq(id),
            tokens::scope.eq(t.scope),
            tokens::created_at.eq(t.created_at),
            tokens::expires_at.eq(t.expires_at),
        ));
    }
    diesel::insert_into(tokens::table)
        .values(&token_rows)
        .execute(conn)?;
    Ok(grant_ids)
}
