//! The `oauth_grants` table: token families. Revoking a grant revokes every access and
//! refresh token issued under it.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
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

/// Stores a batch of issued tokens with their grants, in the caller's transaction; returns
/// each token's grant id in the batch's order, or `None` for a token whose client is no
/// longer active with the secret its request authenticated against.
///
/// A request may have been checked against memory a moment behind another server's
/// pause, new secret or deletion: each grant is checked against its client's current row,
/// share-locked by the insert's foreign-key check. A change committed before this batch
/// leaves its tokens out (a deleted client fails the insert: [`DbError::Vanished`]); one
/// arriving during it waits for the commit and then revokes what the batch stored.
/// Batches on several writers lock the same client side by side.
pub fn insert_issued(
    conn: &mut MysqlConnection,
    batch: &[IssuedToken],
) -> Result<Vec<Option<i64>>, DbError> {
    conn.batch_execute(&issued_statements(batch)?)?;
    issued_grant_ids(conn, batch)
}

/// Like [`insert_issued`], in a transaction of its own sent as one text: the whole batch
/// costs the database one round trip to store and one query to read the grant ids back,
/// whatever its size (diesel's transactions cost three round trips each to begin and to
/// commit, and statements whose shape changes with the batch are never reused).
/// Outside any transaction only. When it fails, the transaction may still be open on
/// `conn`: the caller must close the connection.
pub fn commit_issued(
    conn: &mut MysqlConnection,
    batch: &[IssuedToken],
) -> Result<Vec<Option<i64>>, DbError> {
    conn.batch_execute(&format!(
        "START TRANSACTION; {}; COMMIT",
        issued_statements(batch)?
    ))?;
    issued_grant_ids(conn, batch)
}

/// The statements that store a batch: its grants in one multi-row insert (whose
/// foreign-key check share-locks each client's row until the commit), then away again
/// each grant whose client is no longer active with the secret its request was checked
/// against (one statement per client and secret, usually one), then one token per grant
/// that stayed. A plain multi-row insert takes no table-wide auto-increment lock, where
/// an `INSERT ... SELECT` would hold one for the whole statement (MariaDB's default
/// `innodb_autoinc_lock_mode = 1`).
fn issued_statements(batch: &[IssuedToken]) -> Result<String, DbError> {
    if batch.is_empty() {
        return Ok("DO 0".into());
    }
    let mut rows = Vec::with_capacity(batch.len());
    let mut all = Vec::with_capacity(batch.len());
    let mut groups: std::collections::BTreeMap<(i64, &[u8]), Vec<String>> = Default::default();
    for t in batch {
        let jti = literal(&t.jti)?;
        rows.push(format!(
            "({}, {}, {}, {}, {}, {}, {jti})",
            t.client_id,
            t.user_id.map_or("NULL".to_string(), |id| id.to_string()),
            literal(t.grant_type)?,
            literal(t.scope)?,
            literal(&t.created_at.format("%Y-%m-%d %H:%M:%S%.6f").to_string())?,
            literal(&t.expires_at.format("%Y-%m-%d %H:%M:%S%.6f").to_string())?,
        ));
        groups
            .entry((t.client_id, t.secret_hash.as_slice()))
            .or_default()
            .push(jti.clone());
        all.push(jti);
    }
    let active = literal(crate::domain::ClientStatus::Active.as_str())?;
    let mut sql = format!(
        "INSERT INTO oauth_grants (client_id, user_id, grant_type, scope, created_at, expires_at, first_jti) VALUES {}",
        rows.join(", ")
    );
    for ((_, secret_hash), jtis) in &groups {
        sql.push_str(&format!(
            "; DELETE g FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id \
             WHERE g.first_jti IN ({}) AND NOT (c.status = {active} AND c.secret_hash <=> X'{}')",
            jtis.join(", "),
            hex::encode(secret_hash),
        ));
    }
    sql.push_str(&format!(
        "; INSERT INTO oauth_access_tokens (jti, grant_id, scope, created_at, expires_at) \
         SELECT g.first_jti, g.id, g.scope, g.created_at, g.expires_at FROM oauth_grants g \
         WHERE g.first_jti IN ({})",
        all.join(", ")
    ));
    Ok(sql)
}

/// Each token's grant id, `None` for one that was not stored.
fn issued_grant_ids(
    conn: &mut MysqlConnection,
    batch: &[IssuedToken],
) -> Result<Vec<Option<i64>>, DbError> {
    let jtis: Vec<&str> = batch.iter().map(|t| t.jti.as_str()).collect();
    let ids: std::collections::HashMap<String, i64> = grants::table
        .filter(grants::first_jti.eq_any(&jtis))
        .select((grants::first_jti.assume_not_null(), grants::id))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(batch.iter().map(|t| ids.get(&t.jti).copied()).collect())
}

/// `value` as an SQL string literal. Only the machine-made values of an issued token come
/// here (token ids, dates, scope and grant names), so anything but their characters is a
/// bug, refused rather than escaped.
fn literal(value: &str) -> Result<String, DbError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.' | ' ');
    if value.chars().all(plain) {
        Ok(format!("'{value}'"))
    } else {
        Err(DbError::Query {
            operation: "storing issued tokens".into(),
            source: diesel::result::Error::QueryBuilderError(
                format!("unexpected characters in a token value: {value:?}").into(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::literal;

    #[test]
    fn only_machine_made_values_become_literals() {
        assert_eq!(literal("matomo:read").unwrap(), "'matomo:read'");
        assert_eq!(
            literal("2026-12-02 01:02:03.000004").unwrap(),
            "'2026-12-02 01:02:03.000004'"
        );
        assert_eq!(literal("aZ09-_").unwrap(), "'aZ09-_'");
        for odd in ["a'b", "a\\b", "a;b", "a\"b", "a\nb", "é"] {
            assert!(literal(odd).is_err(), "{odd:?} must be refused");
        }
    }
}
