//! The `oauth_consents` table: the widest scope each user approved for each client.

use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::oauth_consents as consents;

pub fn find(
    conn: &mut MysqlConnection,
    user_id: i64,
    client_id: i64,
) -> Result<Option<String>, DbError> {
    Ok(consents::table
        .find((user_id, client_id))
        .select(consents::scope)
        .first(conn)
        .optional()?)
}

/// Records consent for `scope` (the caller passes the widest scope approved so far).
pub fn upsert(
    conn: &mut MysqlConnection,
    user_id: i64,
    client_id: i64,
    scope: &str,
) -> Result<(), DbError> {
    let now = super::now();
    diesel::insert_into(consents::table)
        .values((
            consents::user_id.eq(user_id),
            consents::client_id.eq(client_id),
            consents::scope.eq(scope),
            consents::created_at.eq(now),
            consents::updated_at.eq(now),
        ))
        .on_conflict(diesel::dsl::DuplicatedKeys)
        .do_update()
        .set((consents::scope.eq(scope), consents::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut MysqlConnection, user_id: i64, client_id: i64) -> Result<usize, DbError> {
    Ok(diesel::delete(consents::table.find((user_id, client_id))).execute(conn)?)
}
