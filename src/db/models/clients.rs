//! The `oauth_clients` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use crate::db::DbError;
use crate::db::changes::{Change, record};
use crate::db::schema::oauth_clients;
use crate::domain::{
    Client, ClientStatus, ClientType, GrantType, PreviousSecret, RedirectUri, Scope,
};

/// A row as stored; [`ClientRow::typed`] turns it into a [`Client`].
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_clients)]
struct ClientRow {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub client_type: String,
    pub grant_types: String,
    pub scopes: String,
    pub redirect_uris: Value,
    pub trusted: bool,
    pub require_pkce: bool,
    pub homepage_url: Option<String>,
    pub icon_url: Option<String>,
    pub status: String,
    pub owner_id: Option<i64>,
    pub secret_hash: Option<Vec<u8>>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    /// Registered itself through RFC 7591, not by an administrator.
    pub self_registered: bool,
    pub registered_from: Option<String>,
    /// A resource server: may introspect tokens issued to any client.
    pub may_introspect_any: bool,
    pub post_logout_redirect_uris: Option<Value>,
    pub access_token_lifetime: Option<i32>,
    pub refresh_token_lifetime: Option<i32>,
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub previous_secret_uses: i64,
    pub secret_rotated_at: Option<NaiveDateTime>,
    pub secret_expires_at: Option<NaiveDateTime>,
    pub site_ids: Option<String>,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
    pub icon_type: Option<String>,
    pub icon_updated_at: Option<NaiveDateTime>,
}

/// A stored JSON list of URIs (written only from parsed ones).
fn stored_uris(value: Option<&Value>) -> Vec<RedirectUri> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(|s| RedirectUri::stored(s.to_string())))
            .collect(),
        _ => Vec::new(),
    }
}

impl ClientRow {
    /// The typed client: the one place its text columns are parsed. A value no writer
    /// could have stored (the table edited by hand) is a query error, never a guess.
    fn typed(self) -> Result<Client, DbError> {
        let corrupt = |e| super::corrupt("oauth_clients", self.id, e);
        let redirect_uris = stored_uris(Some(&self.redirect_uris));
        let post_logout_redirect_uris = stored_uris(self.post_logout_redirect_uris.as_ref());
        Ok(Client {
            client_type: ClientType::parse(&self.client_type).map_err(corrupt)?,
            grants: GrantType::parse_list(&self.grant_types).map_err(corrupt)?,
            scopes: Scope::parse_list(&self.scopes).map_err(corrupt)?,
            status: ClientStatus::parse(&self.status).map_err(corrupt)?,
            redirect_uris,
            post_logout_redirect_uris,
            access_token_lifetime: self.access_token_lifetime.map(i64::from),
            refresh_token_lifetime: self.refresh_token_lifetime.map(i64::from),
            previous_secret: match (self.previous_secret_hash, self.previous_secret_until) {
                (Some(hash), Some(until)) => Some(PreviousSecret {
                    hash,
                    until,
                    uses: self.previous_secret_uses,
                }),
                _ => None,
            },
            secret_rotated_at: self.secret_rotated_at,
            secret_expires_at: self.secret_expires_at,
            site_limit: crate::domain::SiteLimit::stored(self.site_ids.as_deref()),
            privacy_url: self.privacy_url,
            terms_url: self.terms_url,
            icon_updated_at: self.icon_type.and(self.icon_updated_at),
            id: self.id,
            client_id: self.client_id,
            name: self.name,
            description: self.description,
            trusted: self.trusted,
            require_pkce: self.require_pkce,
            homepage_url: self.homepage_url,
            icon_url: self.icon_url,
            owner_id: self.owner_id,
            secret_hash: self.secret_hash,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_used_at: self.last_used_at,
            self_registered: self.self_registered,
            registered_from: self.registered_from,
            may_introspect_any: self.may_introspect_any,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = oauth_clients)]
pub struct NewClient<'a> {
    pub may_introspect_any: bool,
    pub client_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub client_type: &'a str,
    pub grant_types: &'a str,
    pub scopes: &'a str,
    pub redirect_uris: Value,
    pub post_logout_redirect_uris: Value,
    pub access_token_lifetime: Option<i32>,
    pub refresh_token_lifetime: Option<i32>,
    pub trusted: bool,
    pub require_pkce: bool,
    pub homepage_url: Option<&'a str>,
    pub icon_url: Option<&'a str>,
    pub status: &'a str,
    pub owner_id: Option<i64>,
    pub secret_hash: Option<&'a [u8]>,
    pub secret_expires_at: Option<NaiveDateTime>,
    pub site_ids: Option<&'a str>,
    pub privacy_url: Option<&'a str>,
    pub terms_url: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub self_registered: bool,
    pub registered_from: Option<&'a str>,
}

pub fn insert(conn: &mut MysqlConnection, client: &NewClient) -> Result<(), DbError> {
    diesel::insert_into(oauth_clients::table)
        .values(client)
        .execute(conn)?;
    Ok(())
}

/// Every client's name and whether it registered itself (for telling a new
/// self-registered name apart from them).
pub fn names(conn: &mut MysqlConnection) -> Result<Vec<(String, bool)>, DbError> {
    Ok(oauth_clients::table
        .select((oauth_clients::name, oauth_clients::self_registered))
        .load(conn)?)
}

pub fn find_by_client_id(
    conn: &mut MysqlConnection,
    client_id: &str,
) -> Result<Option<Client>, DbError> {
    if !could_be_stored(client_id) {
        return Ok(None);
    }
    oauth_clients::table
        .filter(oauth_clients::client_id.eq(client_id))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(ClientRow::typed)
        .transpose()
}

pub fn find_by_id(conn: &mut MysqlConnection, id: i64) -> Result<Option<Client>, DbError> {
    oauth_clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(ClientRow::typed)
        .transpose()
}

pub fn list(conn: &mut MysqlConnection, limit: i64, offset: i64) -> Result<Vec<Client>, DbError> {
    search(conn, &ClientFilter::default(), limit, offset)
}

/// What the Manage clients page narrows the list to.
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    pub status: Option<ClientStatus>,
    /// Part of the name, or the start of the client ID.
    pub text: Option<String>,
}

fn filtered(filter: &ClientFilter) -> oauth_clients::BoxedQuery<'static, diesel::mysql::Mysql> {
    let mut query = oauth_clients::table.into_boxed();
    if let Some(status) = &filter.status {
        query = query.filter(oauth_clients::status.eq(status.as_str()));
    }
    if let Some(text) = &filter.text {
        let escaped = super::escape_like(text);
        let name = oauth_clients::name.like(format!("%{escaped}%"));
        query = if could_be_stored(text) {
            query.filter(name.or(oauth_clients::client_id.like(format!("{escaped}%"))))
        } else {
            query.filter(name)
        };
    }
    query
}

/// One page of clients in name order.
pub fn search(
    conn: &mut MysqlConnection,
    filter: &ClientFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Client>, DbError> {
    filtered(filter)
        .order((oauth_clients::name.asc(), oauth_clients::id.asc()))
        .limit(limit)
        .offset(offset)
        .select(ClientRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ClientRow::typed)
        .collect()
}

pub fn count(conn: &mut MysqlConnection, filter: &ClientFilter) -> Result<i64, DbError> {
    Ok(filtered(filter).count().get_result(conn)?)
}

/// The editable fields of a client.
#[derive(AsChangeset)]
#[diesel(table_name = oauth_clients, treat_none_as_null = true)]
pub struct ClientChanges<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub grant_types: &'a str,
    pub scopes: &'a str,
    pub redirect_uris: Value,
    pub post_logout_redirect_uris: Value,
    pub access_token_lifetime: Option<i32>,
    pub refresh_token_lifetime: Option<i32>,
    pub require_pkce: bool,
    pub trusted: bool,
    pub may_introspect_any: bool,
    pub homepage_url: Option<&'a str>,
    pub icon_url: Option<&'a str>,
    pub secret_expires_at: Option<NaiveDateTime>,
    pub site_ids: Option<&'a str>,
    pub privacy_url: Option<&'a str>,
    pub terms_url: Option<&'a str>,
    pub updated_at: NaiveDateTime,
}

pub fn update(conn: &mut MysqlConnection, id: i64, changes: &ClientChanges) -> Result<(), DbError> {
    diesel::update(oauth_clients::table.find(id))
        .set(changes)
        .execute(conn)?;
    record(conn, Change::Client(id))
}

/// Makes the client confidential with this secret hash (no previous secret).
pub fn set_secret(conn: &mut MysqlConnection, id: i64, hash: &[u8]) -> Result<(), DbError> {
    diesel::update(oauth_clients::table.find(id))
        .set((
            oauth_clients::client_type.eq(crate::domain::ClientType::Confidential.as_str()),
            oauth_clients::secret_hash.eq(Some(hash)),
            oauth_clients::previous_secret_hash.eq(None::<Vec<u8>>),
            oauth_clients::previous_secret_until.eq(None::<NaiveDateTime>),
            oauth_clients::previous_secret_uses.eq(0),
            oauth_clients::updated_at.eq(super::now()),
        ))
        .execute(conn)?;
    record(conn, Change::Client(id))
}

/// A rotation: the new secret's hash and expiry, and until when the replaced one still
/// works (`None`: it stops now).
pub struct Rotation<'a> {
    pub hash: &'a [u8],
    pub expires_at: Option<NaiveDateTime>,
    pub previous_until: Option<NaiveDateTime>,
}

/// Replaces the secret of a confidential client, keeping the replaced one for a grace
/// period when asked (its use count starts again at zero).
pub fn rotate_secret(
    conn: &mut MysqlConnection,
    client: &Client,
    rotation: &Rotation,
) -> Result<(), DbError> {
    let now = super::now();
    let previous = rotation.previous_until.and(client.secret_hash.as_deref());
    diesel::update(oauth_clients::table.find(client.id))
        .set((
            oauth_clients::secret_hash.eq(Some(rotation.hash)),
            oauth_clients::secret_expires_at.eq(rotation.expires_at),
            oauth_clients::previous_secret_hash.eq(previous),
            oauth_clients::previous_secret_until.eq(previous.and(rotation.previous_until)),
            oauth_clients::previous_secret_uses.eq(0),
            oauth_clients::secret_rotated_at.eq(Some(now)),
            oauth_clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    record(conn, Change::Client(client.id))
}

/// Ends the previous secret's grace period now; returns how many requests it had
/// authenticated, or `None` when there was no previous secret.
pub fn end_previous_secret(conn: &mut MysqlConnection, id: i64) -> Result<Option<i64>, DbError> {
    let now = super::now();
    let uses: Option<(Option<NaiveDateTime>, i64)> = oauth_clients::table
        .find(id)
        .select((
            oauth_clients::previous_secret_until,
            oauth_clients::previous_secret_uses,
        ))
        .for_update()
        .first(conn)
        .optional()?;
    let Some((Some(until), uses)) = uses else {
        return Ok(None);
    };
    diesel::update(oauth_clients::table.find(id))
        .set((
            oauth_clients::previous_secret_hash.eq(None::<Vec<u8>>),
            oauth_clients::previous_secret_until.eq(None::<NaiveDateTime>),
            oauth_clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    record(conn, Change::Client(id))?;
    Ok((until > now).then_some(uses))
}

/// Adds requests authenticated with the previous secret `hash` to its count (gathered in
/// memory and written every few seconds); a count for a secret since replaced is dropped.
/// No change is recorded: the count is shown from the table, never kept in memory.
pub fn add_previous_secret_uses(
    conn: &mut MysqlConnection,
    id: i64,
    hash: &[u8],
    uses: i64,
) -> Result<(), DbError> {
    diesel::update(
        oauth_clients::table
            .find(id)
            .filter(oauth_clients::previous_secret_hash.eq(hash)),
    )
    .set(oauth_clients::previous_secret_uses.eq(oauth_clients::previous_secret_uses + uses))
    .execute(conn)?;
    Ok(())
}

/// Sets the status; returns whether the client exists.
pub fn update_status(
    conn: &mut MysqlConnection,
    client_id: &str,
    status: &str,
) -> Result<bool, DbError> {
    let Some(id) = pk_of(conn, client_id)? else {
        return Ok(false);
    };
    diesel::update(oauth_clients::table.find(id))
        .set((
            oauth_clients::status.eq(status),
            oauth_clients::updated_at.eq(super::now()),
        ))
        .execute(conn)?;
    record(conn, Change::Client(id))?;
    Ok(true)
}

/// Whether text could be a stored `client_id`: the column is ASCII (binary collation), and
/// MySQL refuses to compare it with other characters ("illegal mix of collations"), so
/// such text is answered as "no such client" without a query.
pub fn could_be_stored(client_id: &str) -> bool {
    client_id.is_ascii()
}

/// The row id of the client with this `client_id`.
fn pk_of(conn: &mut MysqlConnection, client_id: &str) -> Result<Option<i64>, DbError> {
    if !could_be_stored(client_id) {
        return Ok(None);
    }
    Ok(oauth_clients::table
        .filter(oauth_clients::client_id.eq(client_id))
        .select(oauth_clients::id)
        .first(conn)
        .optional()?)
}

/// Turns the client public: no secret, PKCE required, the given grants.
pub fn make_public(conn: &mut MysqlConnection, id: i64, grant_types: &str) -> Result<(), DbError> {
    diesel::update(oauth_clients::table.find(id))
        .set((
            oauth_clients::client_type.eq(crate::domain::ClientType::Public.as_str()),
            oauth_clients::secret_hash.eq(None::<Vec<u8>>),
            oauth_clients::previous_secret_hash.eq(None::<Vec<u8>>),
            oauth_clients::previous_secret_until.eq(None::<NaiveDateTime>),
            oauth_clients::secret_expires_at.eq(None::<NaiveDateTime>),
            oauth_clients::require_pkce.eq(true),
            oauth_clients::grant_types.eq(grant_types),
            oauth_clients::updated_at.eq(super::now()),
        ))
        .execute(conn)?;
    record(conn, Change::Client(id))
}

/// Records that the clients just used the protocol, in one statement, except those a
/// write within the last `granularity` already did (several servers then write about
/// once between them).
pub fn touch_last_used(
    conn: &mut MysqlConnection,
    ids: &[i64],
    granularity: chrono::Duration,
) -> Result<(), DbError> {
    let now = super::now();
    diesel::update(
        oauth_clients::table
            .filter(oauth_clients::id.eq_any(ids))
            .filter(
                oauth_clients::last_used_at
                    .is_null()
                    .or(oauth_clients::last_used_at.lt(now - granularity)),
            ),
    )
    .set(oauth_clients::last_used_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Deletes the client; returns whether it existed.
pub fn delete(conn: &mut MysqlConnection, client_id: &str) -> Result<bool, DbError> {
    let Some(id) = pk_of(conn, client_id)? else {
        return Ok(false);
    };
    diesel::delete(oauth_clients::table.find(id)).execute(conn)?;
    record(conn, Change::Client(id))?;
    Ok(true)
}

/// The client IDs and names of the clients `owner_id` owns, by name.
pub fn owned_by(
    conn: &mut MysqlConnection,
    owner_id: i64,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(oauth_clients::table
        .filter(oauth_clients::owner_id.eq(owner_id))
        .order(oauth_clients::name.asc())
        .select((oauth_clients::client_id, oauth_clients::name))
        .load(conn)?)
}

/// Gives every client of `from` to `to`; returns how many.
pub fn reassign_owner(conn: &mut MysqlConnection, from: i64, to: i64) -> Result<usize, DbError> {
    let ids: Vec<i64> = oauth_clients::table
        .filter(oauth_clients::owner_id.eq(from))
        .select(oauth_clients::id)
        .for_update()
        .load(conn)?;
    diesel::update(oauth_clients::table.filter(oauth_clients::id.eq_any(&ids)))
        .set(oauth_clients::owner_id.eq(to))
        .execute(conn)?;
    for id in &ids {
        record(conn, Change::Client(*id))?;
    }
    Ok(ids.len())
}

/// Deletes every client of `owner_id` (their grants and tokens go with them); returns how many.
pub fn delete_owned_by(conn: &mut MysqlConnection, owner_id: i64) -> Result<usize, DbError> {
    let ids: Vec<i64> = oauth_clients::table
        .filter(oauth_clients::owner_id.eq(owner_id))
        .select(oauth_clients::id)
        .for_update()
        .load(conn)?;
    diesel::delete(oauth_clients::table.filter(oauth_clients::id.eq_any(&ids))).execute(conn)?;
    for id in &ids {
        record(conn, Change::Client(*id))?;
    }
    Ok(ids.len())
}
