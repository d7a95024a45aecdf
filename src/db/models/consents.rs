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

/// The websites the user last limited the client to (`None` inside: all); `None` when
/// there is no consent.
pub fn site_ids(
    conn: &mut MysqlConnection,
    user_id: i64,
    client_id: i64,
) -> Result<Option<Option<String>>, DbError> {
    Ok(consents::table
        .find((user_id, client_id))
        .select(consents::site_ids)
        .first(conn)
        .optional()?)
}

/// Replaces the websites the consent is limited to.
pub fn set_site_ids(
    conn: &mut MysqlConnection,
    user_id: i64,
    client_id: i64,
    site_ids: Option<&str>,
) -> Result<usize, DbError> {
    Ok(diesel::update(consents::table.find((user_id, client_id)))
        .set(consents::site_ids.eq(site_ids))
        .execute(conn)?)
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

/// One approved application as Personal > Authorized applications lists it.
#[derive(Debug, Clone, Queryable)]
pub struct ApprovedClient {
    pub client_pk: i64,
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub scope: String,
    pub approved_at: chrono::NaiveDateTime,
    /// The websites the user limited it to (`SiteLimit`'s stored text; `None`: all).
    pub site_ids: Option<String>,
    pub homepage_url: Option<String>,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
    /// When its icon was uploaded (`None`: no icon).
    pub icon_updated_at: Option<chrono::NaiveDateTime>,
}

/// The clients a user has approved, by name.
pub fn list_for_user(
    conn: &mut MysqlConnection,
    user_id: i64,
) -> Result<Vec<ApprovedClient>, DbError> {
    use crate::db::schema::oauth_clients as clients;
    Ok(consents::table
        .inner_join(clients::table)
        .filter(consents::user_id.eq(user_id))
        .order((clients::name.asc(), clients::id.asc()))
        .select((
            clients::id,
            clients::client_id,
            clients::name,
            clients::description,
            consents::scope,
            consents::updated_at,
            consents::site_ids,
            clients::homepage_url,
            clients::privacy_url,
            clients::terms_url,
            clients::icon_updated_at,
        ))
        .load(conn)?)
}
