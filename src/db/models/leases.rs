//! The `leases` table: one row per job that must run on one server at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::leases;

/// Takes the lease `name` for `holder` until `until`, if nobody holds it at `now`. One
/// conditional UPDATE: of any number of servers trying at once, one changes the row (on
/// Galera the others' commits fail certification and, retried, find it taken).
pub fn take(
    conn: &mut MysqlConnection,
    name: &str,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<bool, DbError> {
    crate::db::transaction(conn, |conn| {
        let changed = diesel::update(
            leases::table
                .filter(leases::name.eq(name))
                .filter(leases::expires_at.le(now)),
        )
        .set((
            leases::holder.eq(Some(holder)),
            leases::expires_at.eq(until),
        ))
        .execute(conn)?;
        Ok::<_, DbError>(changed == 1)
    })
}

/// Gives the lease back early, if `holder` still has it.
pub fn release(
    conn: &mut MysqlConnection,
    name: &str,
    holder: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::holder.eq(holder)),
    )
    .set((leases::holder.eq(None::<&str>), leases::expires_at.eq(now)))
    .execute(conn)?;
    Ok(())
}

/// Writes the guard row `name` (its `expires_at` to `now`), so that two transactions that
/// both write it conflict: on one node the second waits for the first, on a Galera cluster
/// the second fails certification (1213) and is run again after the first.
pub fn touch(conn: &mut MysqlConnection, name: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(leases::table.filter(leases::name.eq(name)))
        .set(leases::expires_at.eq(now))
        .execute(conn)?;
    Ok(())
}
