//! The single-row `oauth_settings` table.

use diesel::prelude::*;

use crate::db::DbError;
use crate::db::schema::oauth_settings;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_settings)]
pub struct SettingsRow {
    pub access_token_lifetime: i32,
    pub refresh_token_lifetime: i32,
    pub auth_code_lifetime: i32,
    pub auth_code_enabled: bool,
    pub client_credentials_enabled: bool,
    pub refresh_tokens_enabled: bool,
    pub allowed_scopes: String,
    pub registration_enabled: bool,
    pub registration_policy: String,
    pub audit_retention_days: i32,
    pub allowed_app_schemes: String,
    pub signing_alg: String,
    pub require_2fa_superusers: bool,
    pub require_2fa_support: bool,
    pub device_flow_enabled: bool,
}

/// The row, locked until the transaction ends (so a save records the values it replaced).
pub fn get_for_update(conn: &mut MysqlConnection) -> Result<SettingsRow, DbError> {
    Ok(oauth_settings::table
        .find(1i8)
        .select(SettingsRow::as_select())
        .for_update()
        .first(conn)?)
}

pub fn get(conn: &mut MysqlConnection) -> Result<SettingsRow, DbError> {
    Ok(oauth_settings::table
        .find(1i8)
        .select(SettingsRow::as_select())
        .first(conn)?)
}

/// The values the General settings form writes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = oauth_settings)]
pub struct SettingsChanges<'a> {
    pub access_token_lifetime: i32,
    pub refresh_token_lifetime: i32,
    pub auth_code_lifetime: i32,
    pub auth_code_enabled: bool,
    pub client_credentials_enabled: bool,
    pub refresh_tokens_enabled: bool,
    pub allowed_scopes: &'a str,
    pub registration_enabled: bool,
    pub registration_policy: &'a str,
    pub audit_retention_days: i32,
    pub allowed_app_schemes: &'a str,
    pub signing_alg: &'a str,
    pub require_2fa_superusers: bool,
    pub require_2fa_support: bool,
    pub device_flow_enabled: bool,
    pub updated_at: Option<chrono::NaiveDateTime>,
    pub updated_by: Option<&'a str>,
}

pub fn update(conn: &mut MysqlConnection, changes: &SettingsChanges) -> Result<(), DbError> {
    diesel::update(oauth_settings::table.find(1i8))
        .set(changes)
        .execute(conn)?;
    crate::db::changes::record(conn, crate::db::changes::Change::Settings)
}
