//! The `oauth_device_codes` table (RFC 8628): a device's pending authorization, found by
//! the hash of its device code (the device polling) or of its user code (the user typing
//! it at `/device`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::oauth_device_codes as devices;

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user allowed it: its tokens come from `code_id`.
    Approved,
    Denied,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = devices)]
struct Row {
    id: i64,
    client_id: i64,
    scopes: String,
    status: String,
    user_id: Option<i64>,
    code_id: Option<i64>,
    poll_interval: i32,
    last_polled_at: Option<NaiveDateTime>,
    expires_at: NaiveDateTime,
}

/// A device authorization as stored.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub id: i64,
    pub client_id: i64,
    /// The scopes requested, as text (identity scopes, then Matomo ones).
    pub scopes: String,
    pub status: DeviceStatus,
    pub user_id: Option<i64>,
    pub code_id: Option<i64>,
    pub poll_interval: i64,
    pub last_polled_at: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
}

impl Row {
    fn typed(self) -> Result<DeviceCode, DbError> {
        let status = DeviceStatus::parse(&self.status).ok_or_else(|| {
            let e = crate::domain::InvalidInput::new(format!("unknown status {}", self.status));
            super::corrupt("oauth_device_codes", self.id, e)
        })?;
        Ok(DeviceCode {
            id: self.id,
            client_id: self.client_id,
            scopes: self.scopes,
            status,
            user_id: self.user_id,
            code_id: self.code_id,
            poll_interval: self.poll_interval.into(),
            last_polled_at: self.last_polled_at,
            expires_at: self.expires_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = devices)]
pub struct NewDeviceCode<'a> {
    pub device_code_hash: &'a [u8],
    pub user_code_hash: &'a [u8],
    pub client_id: i64,
    pub scopes: &'a str,
    pub poll_interval: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Stores a new device authorization; `false` when the user code is already taken (the
/// caller draws another).
pub fn insert(conn: &mut MysqlConnection, new: &NewDeviceCode) -> Result<bool, DbError> {
    match diesel::insert_into(devices::table)
        .values(new)
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How many unexpired device authorizations a client has waiting.
pub fn pending_count(
    conn: &mut MysqlConnection,
    client_id: i64,
    now: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(devices::table
        .filter(devices::client_id.eq(client_id))
        .filter(devices::status.eq(DeviceStatus::Pending.as_str()))
        .filter(devices::expires_at.gt(now))
        .count()
        .get_result(conn)?)
}

pub fn find_by_device_code(
    conn: &mut MysqlConnection,
    hash: &[u8],
) -> Result<Option<DeviceCode>, DbError> {
    devices::table
        .filter(devices::device_code_hash.eq(hash))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::typed)
        .transpose()
}

pub fn find_by_user_code(
    conn: &mut MysqlConnection,
    hash: &[u8],
) -> Result<Option<DeviceCode>, DbError> {
    devices::table
        .filter(devices::user_code_hash.eq(hash))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::typed)
        .transpose()
}

/// The row, locked until the transaction ends (one poll at a time decides the pace).
pub fn find_for_update(conn: &mut MysqlConnection, id: i64) -> Result<Option<DeviceCode>, DbError> {
    devices::table
        .find(id)
        .select(Row::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .map(Row::typed)
        .transpose()
}

/// Records a poll at `now`, and the interval from now on.
pub fn polled(
    conn: &mut MysqlConnection,
    id: i64,
    now: NaiveDateTime,
    interval: i64,
) -> Result<(), DbError> {
    diesel::update(devices::table.find(id))
        .set((
            devices::last_polled_at.eq(Some(now)),
            devices::poll_interval.eq(i32::try_from(interval).unwrap_or(i32::MAX)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user's answer, recorded only while the authorization is pending and unexpired;
/// returns whether it was.
pub fn answer(
    conn: &mut MysqlConnection,
    id: i64,
    user_id: i64,
    approved_code: Option<i64>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let status = match approved_code {
        Some(_) => DeviceStatus::Approved,
        None => DeviceStatus::Denied,
    };
    let changed = diesel::update(
        devices::table
            .find(id)
            .filter(devices::status.eq(DeviceStatus::Pending.as_str()))
            .filter(devices::expires_at.gt(now)),
    )
    .set((
        devices::status.eq(status.as_str()),
        devices::user_id.eq(Some(user_id)),
        devices::code_id.eq(approved_code),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Deletes device authorizations that expired before `before`; returns how many.
pub fn delete_expired(conn: &mut MysqlConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(devices::table.filter(devices::expires_at.le(before))).execute(conn)?)
}
