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
pub const CLIENT_CREATED: &str = "client.created";
pub const CLIENT_PAUSED: &str = "client.paused";
pub const CLIENT_RESUMED: &str = "client.resumed";
pub const CLIENT_DELETED: &str = "client.deleted";
pub const CLIENT_MADE_PUBLIC: &str = "client.made_public";
pub const CONSENT_GRANTED: &str = "consent.granted";
pub const CONSENT_DENIED: &str = "consent.denied";
pub const CODE_REPLAYED: &str = "token.code_replayed";
pub const REFRESH_REUSED: &str = "token.refresh_reused";
pub const TOKEN_REVOKED: &str = "token.revoked";
pub const KEYS_ROTATED: &str = "keys.rotated";

/// An event being built; `details` must never carry a secret.
pub struct Event(NewAuditEvent);

impl Event {
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
