//! Audit events: the action names and a small builder. Rows are only ever inserted.

use diesel::MysqlConnection;
use serde_json::{Value, json};

use chrono::NaiveDate;

use crate::db::DbError;
use crate::db::models::audit_events::{self, AuditEventRow, AuditFilter, NewAuditEvent};
use crate::domain::FieldErrors;

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
pub const CLIENT_PREVIOUS_SECRET_ENDED: &str = "client.previous_secret_ended";
pub const CLIENT_ICON_CHANGED: &str = "client.icon_changed";
pub const CONSENT_REVOKED: &str = "consent.revoked";
pub const CONSENT_SITES_CHANGED: &str = "consent.sites_changed";
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
    CLIENT_PREVIOUS_SECRET_ENDED,
    CLIENT_ICON_CHANGED,
    CLIENT_MADE_PUBLIC,
    CLIENT_DELETED,
    CLIENT_REGISTERED,
    REGISTRATION_TOKEN_CREATED,
    REGISTRATION_TOKEN_REVOKED,
    CONSENT_GRANTED,
    CONSENT_DENIED,
    CONSENT_REVOKED,
    CONSENT_SITES_CHANGED,
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

    /// A user acting through a client's token (the admin API): `<login> via <client_id>`.
    pub fn via_client(login: &str, client_id: &str) -> Self {
        Self::new(format!("{login} via {client_id}"))
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

/// The audit log's filter as typed (console query or command-line flags); dates are
/// YYYY-MM-DD in UTC, both ends inclusive.
pub struct FilterInput<'a> {
    pub action: &'a str,
    pub client: &'a str,
    pub user: &'a str,
    pub from: &'a str,
    pub to: &'a str,
}

impl FilterInput<'_> {
    /// The filter, or a message for each field that could not be read.
    pub fn filter(&self) -> Result<AuditFilter, FieldErrors> {
        let mut errors = FieldErrors::default();
        let date = |errors: &mut FieldErrors, field: &'static str, raw: &str| {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
            if parsed.is_none() {
                errors.add(field, "Enter a date as YYYY-MM-DD, such as 2026-11-24.");
            }
            parsed
        };
        let from = date(&mut errors, "from", self.from);
        let to = date(&mut errors, "to", self.to);
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            errors.add("to", "The end date must not be before the start date.");
        }
        let action = self.action.trim();
        if !action.is_empty() && !ACTIONS.contains(&action) {
            errors.add("action", "Choose an action from the list.");
        }
        let text = |raw: &str| {
            let t = raw.trim();
            (!t.is_empty()).then(|| t.chars().take(190).collect::<String>())
        };
        let start_of = |day: NaiveDate| day.and_hms_opt(0, 0, 0).unwrap_or_default();
        errors.check(|| AuditFilter {
            action: text(action),
            client: text(self.client),
            user: text(self.user),
            from: from.map(start_of),
            // The end date is inclusive: everything before the next midnight.
            until: to.and_then(|d| d.succ_opt()).map(start_of),
            before_id: None,
        })
    }
}

/// An export stops here; narrow the filter for more.
pub const EXPORT_LIMIT: i64 = 100_000;

/// Every event the filter matches, newest first; `Err` inside: more than [`EXPORT_LIMIT`].
pub fn export(
    conn: &mut MysqlConnection,
    filter: &AuditFilter,
) -> Result<Result<Vec<AuditEventRow>, String>, DbError> {
    let mut filter = filter.clone();
    filter.before_id = None;
    let rows = audit_events::search(conn, &filter, EXPORT_LIMIT + 1)?;
    if rows.len() as i64 > EXPORT_LIMIT {
        return Ok(Err(format!(
            "More than {EXPORT_LIMIT} events match; narrow the date range and export each part."
        )));
    }
    Ok(Ok(rows))
}

/// The events as CSV: one header row, times in RFC 3339 UTC, every text cell safe to open
/// in a spreadsheet ([`csv_cell`]).
pub fn to_csv(rows: &[AuditEventRow]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "time_utc",
        "actor",
        "action",
        "target_type",
        "target",
        "details",
        "client_address",
        "count",
    ])?;
    for e in rows {
        out.write_record([
            e.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            csv_cell(&e.actor),
            csv_cell(&e.action),
            csv_cell(e.target_type.as_deref().unwrap_or("")),
            csv_cell(e.target_id.as_deref().unwrap_or("")),
            csv_cell(&e.details.to_string()),
            csv_cell(e.ip.as_deref().unwrap_or("")),
            e.repeat_count.to_string(),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// The events as a JSON array, with the CSV's fields.
pub fn to_json(rows: &[AuditEventRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|e| {
                json!({
                    "time_utc": e.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                    "actor": e.actor,
                    "action": e.action,
                    "target_type": e.target_type,
                    "target": e.target_id,
                    "details": e.details,
                    "client_address": e.ip,
                    "count": e.repeat_count,
                })
            })
            .collect(),
    )
}

/// A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection): a
/// leading `=`, `+`, `-`, `@`, tab or carriage return, even after spaces, gets a quote.
pub fn csv_cell(value: &str) -> String {
    if value
        .trim_start_matches([' ', '\u{a0}'])
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        format!("'{value}")
    } else {
        value.to_string()
    }
}
