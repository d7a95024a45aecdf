//! Audit events: the action names and a small builder. Rows are only ever inserted.

use diesel::MysqlConnection;
use serde_json::{Value, json};

use crate::db::DbError;
use crate::db::models::audit_events::{self, NewAuditEvent};

pub const LOGIN_SUCCEEDED: &str = "login.success";
pub const LOGIN_FAILED: &str = "login.failure";
pub const LOGIN_THROTTLED: &str = "login.throttled";
pub const LOGGED_OUT: &str = "logout";
pub const USER_CREATED: &str = "user.created";
pub const USER_PASSWORD_CHANGED: &str = "user.password_changed";
pub const USER_ROLE_CHANGED: &str = "user.role_changed";
pub const USER_DEACTIVATED: &str = "user.deactivated";
pub const USER_ACTIVATED: &str = "user.activated";
pub const USER_DELETED: &str = "user.deleted";
pub const CLIENT_CREATED: &str = "client.created";
pub const CLIENT_PAUSED: &str = "client.paused";
pub const CLIENT_RESUMED: &str = "client.resumed";
pub const CLIENT_DELETED: &str = "client.deleted";
pub const CLIENT_MADE_PUBLIC: &str = "client.made_public";
pub const CLIENT_REGISTERED: &str = "client.registered";
pub const REGISTRATION_TOKEN_CREATED: &str = "registration_token.created";
pub const REGISTRATION_TOKEN_REVOKED: &str = "registration_token.revoked";
pub const CONSENT_GRANTED: &str = "consent.granted";
pub const CONSENT_DENIED: &str = "consent.denied";
pub const CODE_REPLAYED: &str = "token.code_replayed";
pub const REFRESH_REUSED: &str = "token.refresh_reused";
pub const TOKEN_REVOKED: &str = "token.revoked";
pub const KEYS_ROTATED: &str = "keys.rotated";
pub const SETTINGS_CHANGED: &str = "settings.changed";
pub const CLIENT_EDITED: &str = "client.edited";
pub const CLIENT_SECRET_REGENERATED: &str = "client.secret_regenerated";
pub const CONSENT_REVOKED: &str = "consent.revoked";
pub const REAUTH_FAILED: &str = "reauth.failure";
pub const SITE_CREATED: &str = "site.created";
pub const SITE_UPDATED: &str = "site.updated";
pub const SITE_ACCESS_CHANGED: &str = "site.access_changed";
pub const ANNOTATION_ADDED: &str = "annotation.added";
pub const REGISTRATION_REFUSED: &str = "registration.refused";
pub const CLIENT_AUTH_FAILED: &str = "client_auth.failure";
pub const CLIENT_AUTH_THROTTLED: &str = "client_auth.throttled";
pub const AUDIT_PURGED: &str = "audit.purged";
pub const USER_GRANTS_REVOKED: &str = "user.grants_revoked";
pub const TWO_FACTOR_ENABLED: &str = "2fa.enabled";
pub const TWO_FACTOR_DISABLED: &str = "2fa.disabled";
pub const TWO_FACTOR_RESET: &str = "2fa.reset";
pub const TWO_FACTOR_FAILED: &str = "2fa.failure";
pub const RECOVERY_CODE_USED: &str = "2fa.recovery_code_used";

/// Every action, for the audit log's filter.
pub const ACTIONS: &[&str] = &[
    LOGIN_SUCCEEDED,
    LOGIN_FAILED,
    LOGIN_THROTTLED,
    LOGGED_OUT,
    REAUTH_FAILED,
    USER_CREATED,
    USER_PASSWORD_CHANGED,
    USER_ROLE_CHANGED,
    SETTINGS_CHANGED,
    CLIENT_CREATED,
    CLIENT_EDITED,
    CLIENT_PAUSED,
    CLIENT_RESUMED,
    CLIENT_SECRET_REGENERATED,
    CLIENT_MADE_PUBLIC,
    CLIENT_DELETED,
    CLIENT_REGISTERED,
    REGISTRATION_TOKEN_CREATED,
    REGISTRATION_TOKEN_REVOKED,
    CONSENT_GRANTED,
    CONSENT_DENIED,
    CONSENT_REVOKED,
    CODE_REPLAYED,
    REFRESH_REUSED,
    TOKEN_REVOKED,
    KEYS_ROTATED,
    SITE_CREATED,
    SITE_UPDATED,
    SITE_ACCESS_CHANGED,
    ANNOTATION_ADDED,
    REGISTRATION_REFUSED,
    CLIENT_AUTH_FAILED,
    CLIENT_AUTH_THROTTLED,
    USER_GRANTS_REVOKED,
    USER_DEACTIVATED,
    USER_ACTIVATED,
    USER_DELETED,
    TWO_FACTOR_ENABLED,
    TWO_FACTOR_DISABLED,
    TWO_FACTOR_RESET,
    TWO_FACTOR_FAILED,
    RECOVERY_CODE_USED,
    AUDIT_PURGED,
];

/// Repeated events of one kind from one actor and address are counted in one row per
/// this many seconds, so a flood of refusals cannot grow the table faster than that.
pub const COUNTED_WINDOW_SECS: i64 = 15 * 60;

/// Who did something, and from which address when it came over HTTP.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub ip: Option<String>,
}

impl Actor {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ip: None,
        }
    }

    pub fn from_ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }
}

/// An event being built; `details` must never carry a secret.
pub struct Event(NewAuditEvent);

impl Event {
    /// An event caused by `actor`, with their address when known.
    pub fn by(actor: &Actor, action: &'static str) -> Self {
        let event = Self::new(&actor.name, action);
        match &actor.ip {
            Some(ip) => event.ip(ip),
            None => event,
        }
    }

    pub fn new(actor: &str, action: &'static str) -> Self {
        Self(NewAuditEvent {
            actor: actor.chars().take(100).collect(),
            action,
            target_type: None,
            target_id: None,
            details: json!({}),
            ip: None,
        })
    }

    pub fn target(mut self, kind: &'static str, id: &str) -> Self {
        self.0.target_type = Some(kind);
        self.0.target_id = Some(id.chars().take(190).collect());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.0.details = details;
        self
    }

    pub fn ip(mut self, ip: &str) -> Self {
        self.0.ip = Some(ip.chars().take(45).collect());
        self
    }
}

pub fn record(conn: &mut MysqlConnection, event: Event) -> Result<(), DbError> {
    audit_events::insert(conn, &event.0)
}

/// Records an event that outsiders can repeat at will (refused sign-ins, failed client
/// authentication, refused registrations): one row per action, actor, target and address
/// per [`COUNTED_WINDOW_SECS`], whose `repeat_count` grows with each repeat.
pub fn record_counted(conn: &mut MysqlConnection, event: Event) -> Result<(), DbError> {
    use sha2::{Digest, Sha256};
    let e = &event.0;
    let now = crate::db::models::now();
    let window = now.and_utc().timestamp().div_euclid(COUNTED_WINDOW_SECS);
    let mut h = Sha256::new();
    for part in [
        e.action,
        &e.actor,
        e.target_type.unwrap_or(""),
        e.target_id.as_deref().unwrap_or(""),
        e.ip.as_deref().unwrap_or(""),
        &window.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    audit_events::insert_counted(conn, &event.0, &h.finalize(), now)
}
