//! The `oauth_client_icons` table: a client's uploaded icon, served same-origin. The
//! client's row says whether it has one (`icon_type`), so pages need not read the bytes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::changes::{Change, record};
use crate::db::schema::{oauth_client_icons as icons, oauth_clients as clients};

/// Stores (or replaces) the client's icon.
pub fn set(
    conn: &mut MysqlConnection,
    client_pk: i64,
    content_type: &str,
    data: &[u8],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::replace_into(icons::table)
        .values((
            icons::client_id.eq(client_pk),
            icons::content_type.eq(content_type),
            icons::data.eq(data),
            icons::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(clients::table.find(client_pk))
        .set((
            clients::icon_type.eq(Some(content_type)),
            clients::icon_updated_at.eq(Some(now)),
            clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    record(conn, Change::Client(client_pk))
}

/// Removes the client's icon; returns whether it had one.
pub fn remove(conn: &mut MysqlConnection, client_pk: i64) -> Result<bool, DbError> {
    let n = diesel::delete(icons::table.find(client_pk)).execute(conn)?;
    diesel::update(clients::table.find(client_pk))
        .set((
            clients::icon_type.eq(None::<String>),
            clients::icon_updated_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    record(conn, Change::Client(client_pk))?;
    Ok(n > 0)
}

/// The icon of the client with this `client_id`: its content type and bytes.
pub fn find(
    conn: &mut MysqlConnection,
    client_id: &str,
) -> Result<Option<(String, Vec<u8>)>, DbError> {
    if !super::clients::could_be_stored(client_id) {
        return Ok(None);
    }
    Ok(icons::table
        .inner_join(clients::table)
        .filter(clients::client_id.eq(client_id))
        .select((icons::content_type, icons::data))
        .first(conn)
        .optional()?)
}
