//! Failed sign-ins, counted over a sliding window per login and per client address.

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::login_failures;

/// Failures inside the window and the oldest of them, for one login or one address.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowCount {
    pub failures: i64,
    pub oldest: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut MysqlConnection, login: &str, ip: &str) -> Result<(), DbError> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::login.eq(login),
            login_failures::ip.eq(ip),
            login_failures::occurred_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn count_for_login(
    conn: &mut MysqlConnection,
    login: &str,
    since: NaiveDateTime,
) -> Result<WindowCount, DbError> {
    let (failures, oldest) = login_failures::table
        .filter(login_failures::login.eq(login))
        .filter(login_failures::occurred_at.gt(since))
        .select((count_star(), min(login_failures::occurred_at)))
        .first::<(i64, Option<NaiveDateTime>)>(conn)?;
    Ok(WindowCount { failures, oldest })
}

pub fn count_for_ip(
    conn: &mut MysqlConnection,
    ip: &str,
    since: NaiveDateTime,
) -> Result<WindowCount, DbError> {
    let (failures, oldest) = login_failures::table
        .filter(login_failures::ip.eq(ip))
        .filter(login_failures::occurred_at.gt(since))
        .select((count_star(), min(login_failures::occurred_at)))
        .first::<(i64, Option<NaiveDateTime>)>(conn)?;
    Ok(WindowCount { failures, oldest })
}

/// A successful sign-in clears that login's counter.
pub fn delete_for_login(conn: &mut MysqlConnection, login: &str) -> Result<(), DbError> {
    diesel::delete(login_failures::table.filter(login_failures::login.eq(login))).execute(conn)?;
    Ok(())
}

/// Removes rows older than `before`, so the table stays small.
pub fn delete_older_than(
    conn: &mut MysqlConnection,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(login_failures::table.filter(login_failures::occurred_at.lt(before)))
            .execute(conn)?,
    )
}
