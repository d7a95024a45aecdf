//! The append-only `audit_events` table: the application inserts and reads, never edits.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use crate::db::DbError;
use crate::db::schema::audit_events;

/// An event to record. `details` must never contain a secret.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub actor: String,
    pub action: &'static str,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub details: Value,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEventRow {
    pub id: i64,
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub details: Value,
    pub ip: Option<String>,
}

pub fn insert(conn: &mut MysqlConnection, event: &NewAuditEvent) -> Result<(), DbError> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::occurred_at.eq(super::now()),
            audit_events::actor.eq(&event.actor),
            audit_events::action.eq(event.action),
            audit_events::target_type.eq(event.target_type),
            audit_events::target_id.eq(&event.target_id),
            audit_events::details.eq(&event.details),
            audit_events::ip.eq(&event.ip),
        ))
        .execute(conn)?;
    Ok(())
}

/// The newest events first, optionally only one action.
pub fn list_recent(
    conn: &mut MysqlConnection,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEventRow>, DbError> {
    let mut query = audit_events::table
        .select(AuditEventRow::as_select())
        .into_boxed();
    if let Some(action) = action {
        query = query.filter(audit_events::action.eq(action.to_string()));
    }
    Ok(query
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .load(conn)?)
}
