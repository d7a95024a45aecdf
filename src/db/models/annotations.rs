//! The `annotations` table: dated notes on a site.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::annotations;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = annotations)]
pub struct AnnotationRow {
    pub id: i64,
    pub site_id: i64,
    pub date: NaiveDate,
    pub note: String,
    pub author: String,
    pub created_at: NaiveDateTime,
}

/// Adds a note; returns its id.
pub fn insert(
    conn: &mut MysqlConnection,
    site_id: i64,
    date: NaiveDate,
    note: &str,
    author: &str,
) -> Result<i64, DbError> {
    diesel::insert_into(annotations::table)
        .values((
            annotations::site_id.eq(site_id),
            annotations::date.eq(date),
            annotations::note.eq(note),
            annotations::author.eq(author),
            annotations::created_at.eq(super::now()),
        ))
        .execute(conn)?;
    super::last_insert_id(conn)
}

/// A site's notes by date.
pub fn for_site(conn: &mut MysqlConnection, site_id: i64) -> Result<Vec<AnnotationRow>, DbError> {
    Ok(annotations::table
        .filter(annotations::site_id.eq(site_id))
        .order((annotations::date.asc(), annotations::id.asc()))
        .select(AnnotationRow::as_select())
        .load(conn)?)
}
