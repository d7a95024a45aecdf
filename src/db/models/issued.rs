//! Storing issued tokens in batches (the group-commit writer, `oauth::issuer`): each token
//! with its grant, or with the code or refresh token it was exchanged for, claimed in the
//! same transaction.
//!
//! A batch is one text of statements: every token's claim, then its rows, each written
//! only where its own claim won (a claim names the token it was made for, in `used_by` or
//! `rotated_by`). One query then reads back which tokens were stored. So a batch costs
//! the database one round trip and one commit whatever its size and whoever wins.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::oauth_access_tokens as access_tokens;
use crate::domain::{ClientStatus, GrantType};

/// An access token to store, and what it is issued under.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub jti: String,
    pub client_id: i64,
    pub user_id: Option<i64>,
    pub scope: String,
    pub created_at: NaiveDateTime,
    /// When the access token expires.
    pub expires_at: NaiveDateTime,
    pub under: Under,
    /// The websites its grant may act on: the code's or the grant's; for client
    /// credentials, the client's.
    pub sites: crate::domain::SiteLimit,
}

/// What a token is issued under.
#[derive(Debug, Clone)]
pub enum Under {
    /// A grant of its own (client credentials), kept only while the client is still
    /// active with the secret hash the request authenticated against (from memory).
    OwnGrant { secret_hash: Vec<u8> },
    /// A new grant for a code, which this token claims; a refresh token goes with it when
    /// the client may refresh.
    Code {
        /// The code grant's, or the device grant's (RFC 8628), whose code it redeems.
        grant: GrantType,
        code_id: i64,
        grant_expires: NaiveDateTime,
        refresh: Option<NewRefresh>,
    },
    /// The grant of a refresh token, which this token claims and rotates into `refresh`.
    Refresh {
        refresh_id: i64,
        grant_id: i64,
        refresh: NewRefresh,
    },
}

/// A refresh token to store: only its hash.
#[derive(Debug, Clone)]
pub struct NewRefresh {
    pub token_hash: [u8; 32],
    pub expires_at: NaiveDateTime,
}

impl Under {
    /// The grant type (RFC 6749) a token issued under this was asked for with.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Under::OwnGrant { .. } => "client_credentials",
            Under::Code { grant, .. } => grant.as_str(),
            Under::Refresh { .. } => "refresh_token",
        }
    }
}

impl IssuedToken {
    /// Whether a token that was not stored lost its claim to another request (a code or
    /// refresh token used twice) rather than its client (paused, new secret, deleted).
    pub fn claims(&self) -> bool {
        !matches!(self.under, Under::OwnGrant { .. })
    }
}

/// Stores a batch of issued tokens in the caller's transaction; returns each token's grant
/// id in the batch's order, or `None` for a token that was not stored: its claim was lost
/// to another request, or its client is no longer active with the secret its request
/// authenticated against ([`IssuedToken::claims`] tells which).
///
/// A request may have been checked against memory a moment behind another server's
/// pause, new secret or deletion: each own grant is checked against its client's current
/// row, share-locked by the insert's foreign-key check. A change committed before this
/// batch leaves its tokens out (a deleted client fails the insert: [`DbError::Vanished`]);
/// one arriving during it waits for the commit and then revokes what the batch stored.
/// Batches on several writers lock the same client side by side.
pub fn insert_issued(
    conn: &mut MysqlConnection,
    batch: &[IssuedToken],
) -> Result<Vec<Option<i64>>, DbError> {
    conn.batch_execute(&statements(batch)?)?;
    stored_grant_ids(conn, batch)
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
        statements(batch)?
    ))?;
    stored_grant_ids(conn, batch)
}

/// The statements that store a batch, in this order: the claims of codes and refresh
/// tokens; the own grants in one multi-row insert (whose foreign-key check share-locks
/// each client's row until the commit) and away again each one whose client is no longer
/// active with the secret its request was checked against (one statement per client and
/// secret, usually one), then one token per own grant that stayed; then, per claiming
/// token, its grant or the extension of its family, its access token and its refresh
/// token, each written only where the token's own claim won. A plain multi-row insert
/// takes no table-wide auto-increment lock, where an `INSERT ... SELECT` would hold one
/// for the whole statement (MariaDB's default `innodb_autoinc_lock_mode = 1`).
fn statements(batch: &[IssuedToken]) -> Result<String, DbError> {
    let mut sql = Vec::new();
    for t in batch {
        sql.extend(claim(t)?);
    }
    sql.extend(own_grants(batch)?);
    for t in batch {
        sql.extend(claimed_rows(t)?);
    }
    if sql.is_empty() {
        sql.push("DO 0".into());
    }
    Ok(sql.join("; "))
}

/// The conditional UPDATE that claims a token's code or refresh token for it.
fn claim(t: &IssuedToken) -> Result<Option<String>, DbError> {
    let (jti, now) = (literal(&t.jti)?, date(t.created_at)?);
    Ok(match &t.under {
        Under::OwnGrant { .. } => None,
        Under::Code { code_id, .. } => Some(format!(
            "UPDATE oauth_authorization_codes SET used_at = {now}, used_by = {jti} \
             WHERE id = {code_id} AND used_at IS NULL"
        )),
        Under::Refresh { refresh_id, .. } => Some(format!(
            "UPDATE oauth_refresh_tokens SET rotated_at = {now}, rotated_by = {jti} \
             WHERE id = {refresh_id} AND rotated_at IS NULL"
        )),
    })
}

/// The own grants of a batch and their tokens (client credentials).
fn own_grants(batch: &[IssuedToken]) -> Result<Vec<String>, DbError> {
    let mut rows = Vec::new();
    let mut all = Vec::new();
    let mut groups: std::collections::BTreeMap<(i64, &[u8]), Vec<String>> = Default::default();
    for t in batch {
        let Under::OwnGrant { secret_hash } = &t.under else {
            continue;
        };
        let jti = literal(&t.jti)?;
        let sites = match t.sites.to_stored() {
            Some(ids) => literal(&ids)?,
            None => "NULL".to_string(),
        };
        rows.push(format!(
            "({}, {}, {}, {}, {}, {}, {jti}, {sites})",
            t.client_id,
            nullable(t.user_id),
            literal(GrantType::ClientCredentials.as_str())?,
            literal(&t.scope)?,
            date(t.created_at)?,
            date(t.expires_at)?,
        ));
        groups
            .entry((t.client_id, secret_hash.as_slice()))
            .or_default()
            .push(jti.clone());
        all.push(jti);
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let active = literal(ClientStatus::Active.as_str())?;
    let mut sql = vec![format!(
        "INSERT INTO oauth_grants (client_id, user_id, grant_type, scope, created_at, expires_at, first_jti, site_ids) VALUES {}",
        rows.join(", ")
    )];
    // The secret is the current one, unexpired, or the previous one within its grace
    // period (the batch's time stands for the moment the request was checked).
    let now = date(
        batch
            .iter()
            .map(|t| t.created_at)
            .max()
            .unwrap_or_else(super::now),
    )?;
    for ((_, secret_hash), jtis) in &groups {
        let hash = hex::encode(secret_hash);
        sql.push(format!(
            "DELETE g FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id \
             WHERE g.first_jti IN ({}) AND NOT (c.status = {active} AND (\
             (c.secret_hash <=> X'{hash}' AND (c.secret_expires_at IS NULL OR c.secret_expires_at > {now})) \
             OR (c.previous_secret_hash <=> X'{hash}' AND c.previous_secret_until > {now})))",
            jtis.join(", "),
        ));
    }
    sql.push(format!(
        "INSERT INTO oauth_access_tokens (jti, grant_id, scope, created_at, expires_at) \
         SELECT g.first_jti, g.id, g.scope, g.created_at, g.expires_at FROM oauth_grants g \
         WHERE g.first_jti IN ({})",
        all.join(", ")
    ));
    Ok(sql)
}

/// The rows of a token that claimed a code or a refresh token, each written only where
/// the claim names this token: none when another request's claim won.
fn claimed_rows(t: &IssuedToken) -> Result<Vec<String>, DbError> {
    let (jti, now, scope) = (literal(&t.jti)?, date(t.created_at)?, literal(&t.scope)?);
    let expires = date(t.expires_at)?;
    let (mut sql, refresh) = match &t.under {
        Under::OwnGrant { .. } => return Ok(Vec::new()),
        Under::Code {
            grant,
            code_id,
            grant_expires,
            refresh,
        } => (
            vec![
                format!(
                    "INSERT INTO oauth_grants (client_id, user_id, code_id, grant_type, scope, created_at, expires_at, first_jti, auth_time, amr, acr, site_ids) \
                     SELECT {}, {}, id, {}, {scope}, {now}, {}, {jti}, auth_time, amr, acr, site_ids FROM oauth_authorization_codes \
                     WHERE id = {code_id} AND used_by = {jti}",
                    t.client_id,
                    nullable(t.user_id),
                    literal(grant.as_str())?,
                    date(*grant_expires)?,
                ),
                format!(
                    "INSERT INTO oauth_access_tokens (jti, grant_id, scope, created_at, expires_at) \
                     SELECT {jti}, id, {scope}, {now}, {expires} FROM oauth_grants WHERE first_jti = {jti}"
                ),
            ],
            refresh.as_ref(),
        ),
        Under::Refresh {
            refresh_id,
            grant_id,
            refresh,
        } => (
            vec![
                format!(
                    "INSERT INTO oauth_access_tokens (jti, grant_id, scope, created_at, expires_at) \
                     SELECT {jti}, grant_id, {scope}, {now}, {expires} FROM oauth_refresh_tokens \
                     WHERE id = {refresh_id} AND rotated_by = {jti}"
                ),
                // The family lives until its last refresh token expires. Extending it when
                // the claim was lost is harmless: the loser revokes the family anyway.
                format!(
                    "UPDATE oauth_grants SET expires_at = {ends} WHERE id = {grant_id} AND expires_at < {ends}",
                    ends = date(refresh.expires_at)?,
                ),
            ],
            Some(refresh),
        ),
    };
    if let Some(refresh) = refresh {
        sql.push(format!(
            "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, scope, created_at, expires_at) \
             SELECT X'{}', grant_id, {scope}, {now}, {} FROM oauth_access_tokens WHERE jti = {jti}",
            hex::encode(refresh.token_hash),
            date(refresh.expires_at)?,
        ));
    }
    Ok(sql)
}

/// Each token's grant id, `None` for one that was not stored.
fn stored_grant_ids(
    conn: &mut MysqlConnection,
    batch: &[IssuedToken],
) -> Result<Vec<Option<i64>>, DbError> {
    let jtis: Vec<&str> = batch.iter().map(|t| t.jti.as_str()).collect();
    let ids: std::collections::HashMap<String, i64> = access_tokens::table
        .filter(access_tokens::jti.eq_any(&jtis))
        .select((access_tokens::jti, access_tokens::grant_id))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(batch.iter().map(|t| ids.get(&t.jti).copied()).collect())
}

fn nullable(id: Option<i64>) -> String {
    id.map_or("NULL".to_string(), |id| id.to_string())
}

fn date(at: NaiveDateTime) -> Result<String, DbError> {
    literal(&at.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
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
