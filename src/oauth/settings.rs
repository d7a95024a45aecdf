//! The current OAuth 2.0 settings (read per request, so a change applies at once).

use diesel::MysqlConnection;

use crate::db::DbError;
use crate::db::models::oauth_settings;
use crate::domain::Scope;

/// Codes live at most ten minutes (RFC 6749 §4.1.2), whatever the row says.
pub const MAX_CODE_LIFETIME_SECS: i64 = 600;

#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_lifetime: i64,
    pub refresh_token_lifetime: i64,
    pub auth_code_lifetime: i64,
    pub auth_code_enabled: bool,
    pub client_credentials_enabled: bool,
    pub refresh_tokens_enabled: bool,
    pub allowed_scopes: Vec<Scope>,
}

impl Settings {
    pub fn load(conn: &mut MysqlConnection) -> Result<Self, DbError> {
        let row = oauth_settings::get(conn)?;
        Ok(Self {
            // Bounded here too, whatever the row says: the key rotation and the RFC depend on it.
            access_token_lifetime: i64::from(row.access_token_lifetime)
                .clamp(1, crate::oauth::keys::MAX_ACCESS_TOKEN_LIFETIME_SECS),
            refresh_token_lifetime: row.refresh_token_lifetime.into(),
            auth_code_lifetime: i64::from(row.auth_code_lifetime).clamp(1, MAX_CODE_LIFETIME_SECS),
            auth_code_enabled: row.auth_code_enabled,
            client_credentials_enabled: row.client_credentials_enabled,
            refresh_tokens_enabled: row.refresh_tokens_enabled,
            // Written only through validated forms; an unknown word would be skipped, not trusted.
            allowed_scopes: row
                .allowed_scopes
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect(),
        })
    }
}
