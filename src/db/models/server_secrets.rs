//! Random server-side keys kept in the database, so every instance shares them.

use diesel::prelude::*;
use rand::RngCore;

use crate::db::DbError;
use crate::db::schema::server_secrets;

/// Returns the key `name`, creating it (`len` random bytes) on first use. Concurrent first
/// uses agree: `INSERT IGNORE` keeps whichever row landed first, then everyone reads it.
pub fn get_or_create(
    conn: &mut MysqlConnection,
    name: &str,
    len: usize,
) -> Result<Vec<u8>, DbError> {
    let mut fresh = vec![0u8; len];
    rand::rng().fill_bytes(&mut fresh);
    diesel::insert_or_ignore_into(server_secrets::table)
        .values((
            server_secrets::name.eq(name),
            server_secrets::value.eq(&fresh),
            server_secrets::created_at.eq(super::now()),
        ))
        .execute(conn)?;
    Ok(server_secrets::table
        .find(name)
        .select(server_secrets::value)
        .first(conn)?)
}
