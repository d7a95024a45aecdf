//! The `sites` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::sites;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sites)]
pub struct SiteRow {
    pub id: i64,
    pub name: String,
    pub main_url: String,
    pub created_at: NaiveDateTime,
}

/// Inserts a site; returns its id.
pub fn insert(conn: &mut MysqlConnection, name: &str, main_url: &str) -> Result<i64, DbError> {
    diesel::insert_into(sites::table)
        .values((
            sites::name.eq(name),
            sites::main_url.eq(main_url),
            sites::created_at.eq(super::now()),
        ))
        .execute(conn)?;
    // Read before the change-log row below takes LAST_INSERT_ID().
    let id = super::last_insert_id(conn)?;
    crate::db::changes::record(conn, crate::db::changes::Change::Sites)?;
    Ok(id)
}

pub fn find(conn: &mut MysqlConnection, id: i64) -> Result<Option<SiteRow>, DbError> {
    Ok(sites::table
        .find(id)
        .select(SiteRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every site, by id.
pub fn list(conn: &mut MysqlConnection) -> Result<Vec<SiteRow>, DbError> {
    Ok(sites::table
        .order(sites::id.asc())
        .select(SiteRow::as_select())
        .load(conn)?)
}

/// These sites, by id.
pub fn list_by_ids(conn: &mut MysqlConnection, ids: &[i64]) -> Result<Vec<SiteRow>, DbError> {
    Ok(sites::table
        .filter(sites::id.eq_any(ids))
        .order(sites::id.asc())
        .select(SiteRow::as_select())
        .load(conn)?)
}

/// Renames a site and sets its URL; returns whether it exists.
pub fn update(
    conn: &mut MysqlConnection,
    id: i64,
    name: &str,
    main_url: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(sites::table.find(id))
        .set((sites::name.eq(name), sites::main_url.eq(main_url)))
        .execute(conn)?;
    crate::db::changes::record(conn, crate::db::changes::Change::Sites)?;
    // MySQL counts changed rows: an update to the same values reports 0.
    Ok(n == 1 || find(conn, id)?.is_some())
}
