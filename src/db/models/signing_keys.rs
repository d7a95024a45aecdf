//! The `signing_keys` table: the keys that sign access tokens (RSA, P-256 or Ed25519).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::signing_keys;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub id: i64,
    pub kid: String,
    pub private_der: Vec<u8>,
    pub n: String,
    pub e: String,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    pub publish_until: Option<NaiveDateTime>,
    /// Signs from this time on (published before, so verifiers know it first).
    pub active_from: Option<NaiveDateTime>,
    /// The JWS algorithm of the key: RS256, ES256 or EdDSA.
    pub alg: String,
}

impl SigningKeyRow {
    /// Whether this key signs new tokens at `now`.
    pub fn signs_at(&self, now: NaiveDateTime) -> bool {
        self.signing_window().contains(now)
    }

    /// When this key signs: from its activation to its retirement.
    pub fn signing_window(&self) -> SigningWindow {
        SigningWindow {
            from: self.active_from,
            until: self.retired_at,
        }
    }
}

/// The time a key signs new tokens: from `from` (or always) until `until` (or for good).
#[derive(Debug, Clone, Copy)]
pub struct SigningWindow {
    pub from: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

impl SigningWindow {
    pub fn contains(&self, now: NaiveDateTime) -> bool {
        self.from.is_none_or(|a| a <= now) && self.until.is_none_or(|r| r > now)
    }
}

#[derive(Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewSigningKey<'a> {
    pub kid: &'a str,
    pub private_der: &'a [u8],
    pub n: &'a str,
    pub e: &'a str,
    pub created_at: NaiveDateTime,
    pub active_from: Option<NaiveDateTime>,
    pub alg: &'a str,
}

/// Inserts the key; returns its id.
pub fn insert(conn: &mut MysqlConnection, key: &NewSigningKey) -> Result<i64, DbError> {
    diesel::insert_into(signing_keys::table)
        .values(key)
        .execute(conn)?;
    // Read before the change-log row below takes LAST_INSERT_ID().
    let id = super::last_insert_id(conn)?;
    crate::db::changes::record(conn, crate::db::changes::Change::Keys)?;
    Ok(id)
}

/// Keys still published at `now`, newest first; the first unretired one signs.
pub fn published(
    conn: &mut MysqlConnection,
    now: NaiveDateTime,
) -> Result<Vec<SigningKeyRow>, DbError> {
    Ok(signing_keys::table
        .filter(
            signing_keys::publish_until
                .is_null()
                .or(signing_keys::publish_until.gt(now)),
        )
        .order(signing_keys::id.desc())
        .select(SigningKeyRow::as_select())
        .load(conn)?)
}

/// Retires, at `at`, every signing key older than `newest_id` that is not retired by then
/// already, keeping it published until `until`.
pub fn retire_older_than(
    conn: &mut MysqlConnection,
    newest_id: i64,
    at: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        signing_keys::table
            .filter(signing_keys::id.lt(newest_id))
            .filter(
                signing_keys::retired_at
                    .is_null()
                    .or(signing_keys::retired_at.gt(at)),
            ),
    )
    .set((
        signing_keys::retired_at.eq(at),
        signing_keys::publish_until.eq(until),
    ))
    .execute(conn)?)
}

/// Drops keys that are no longer published (every token they signed has expired).
pub fn delete_unpublished(
    conn: &mut MysqlConnection,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(signing_keys::table.filter(signing_keys::publish_until.le(now)))
            .execute(conn)?,
    )
}
