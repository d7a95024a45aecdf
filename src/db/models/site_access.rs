//! The `site_access` table: a non-superuser's level on each site.

use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::{site_access, users};
use crate::domain::AccessLevel;

/// The user's level on every site where they have one.
pub fn for_user(
    conn: &mut MysqlConnection,
    user_id: i64,
) -> Result<Vec<(i64, AccessLevel)>, DbError> {
    let rows: Vec<(i64, String)> = site_access::table
        .filter(site_access::user_id.eq(user_id))
        .select((site_access::site_id, site_access::access))
        .load(conn)?;
    // The CHECK constraint keeps `access` one of the three.
    Ok(rows
        .into_iter()
        .filter_map(|(site, level)| level.parse().ok().map(|l| (site, l)))
        .collect())
}

/// The user's level on one site.
pub fn level(
    conn: &mut MysqlConnection,
    user_id: i64,
    site_id: i64,
) -> Result<Option<AccessLevel>, DbError> {
    let level: Option<String> = site_access::table
        .find((user_id, site_id))
        .select(site_access::access)
        .first(conn)
        .optional()?;
    Ok(level.and_then(|l| l.parse().ok()))
}

/// Sets (or, with `None`, removes) the user's level on a site.
pub fn set(
    conn: &mut MysqlConnection,
    user_id: i64,
    site_id: i64,
    level: Option<AccessLevel>,
) -> Result<(), DbError> {
    match level {
        Some(level) => {
            diesel::insert_into(site_access::table)
                .values((
                    site_access::user_id.eq(user_id),
                    site_access::site_id.eq(site_id),
                    site_access::access.eq(level.as_str()),
                ))
                .on_conflict(diesel::dsl::DuplicatedKeys)
                .do_update()
                .set(site_access::access.eq(level.as_str()))
                .execute(conn)?;
        }
        None => {
            diesel::delete(site_access::table.find((user_id, site_id))).execute(conn)?;
        }
    }
    crate::db::changes::record(conn, crate::db::changes::Change::User(user_id))
}

/// Who has which level on a site: (login, level).
pub fn for_site(
    conn: &mut MysqlConnection,
    site_id: i64,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(site_access::table
        .inner_join(users::table)
        .filter(site_access::site_id.eq(site_id))
        .order(users::login.asc())
        .select((users::login, site_access::access))
        .load(conn)?)
}
