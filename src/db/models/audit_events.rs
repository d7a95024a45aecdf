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
    /// How many times the event happened in its window (1 unless counted).
    pub repeat_count: i32,
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

/// Inserts the event, or counts one more repeat on the row with the same `key`.
pub fn insert_counted(
    conn: &mut MysqlConnection,
    event: &NewAuditEvent,
    key: &[u8],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::occurred_at.eq(now),
            audit_events::actor.eq(&event.actor),
            audit_events::action.eq(event.action),
            audit_events::target_type.eq(event.target_type),
            audit_events::target_id.eq(&event.target_id),
            audit_events::details.eq(&event.details),
            audit_events::ip.eq(&event.ip),
            audit_events::aggregate_key.eq(key),
        ))
        .on_conflict(diesel::dsl::DuplicatedKeys)
        .do_update()
        .set((
            audit_events::repeat_count.eq(audit_events::repeat_count + 1),
            audit_events::last_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes events older than `before`; returns how many.
pub fn delete_older_than(
    conn: &mut MysqlConnection,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    // In slices, so one purge never holds a huge lock or undo log.
    let mut total = 0;
    loop {
        let ids: Vec<i64> = audit_events::table
            .filter(audit_events::occurred_at.lt(before))
            .select(audit_events::id)
            .order(audit_events::id)
            .limit(5000)
            .load(conn)?;
        if ids.is_empty() {
            return Ok(total);
        }
        total += diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&ids)))
            .execute(conn)?;
    }
}

/// What the audit log narrows events to; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    /// Events about this client (its client ID).
    pub client: Option<String>,
    /// Events this login caused or that concern them.
    pub user: Option<String>,
    pub from: Option<NaiveDateTime>,
    /// Exclusive upper bound.
    pub until: Option<NaiveDateTime>,
    /// Only events older than this id (the next page).
    pub before_id: Option<i64>,
}

/// The newest matching events first, at most `limit`.
pub fn search(
    conn: &mut MysqlConnection,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditEventRow>, DbError> {
    let mut query = audit_events::table
        .select(AuditEventRow::as_select())
        .into_boxed();
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(client) = &filter.client {
        query = query
            .filter(audit_events::target_type.eq("client"))
            .filter(audit_events::target_id.eq(client.clone()));
    }
    if let Some(user) = &filter.user {
        query = query.filter(
            audit_events::actor
                .eq(user.clone())
                // What they did through a client's token (the admin API).
                .or(audit_events::actor.like(format!("{} via %", super::escape_like(user))))
                .or(audit_events::target_type
                    .eq("user")
                    .and(audit_events::target_id.eq(user.clone()))),
        );
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_events::occurred_at.lt(until));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(audit_events::id.lt(before));
    }
    // Ids grow with time, so id order is time order and pages by the primary key.
    Ok(query
        .order(audit_events::id.desc())
        .limit(limit)
        .load(conn)?)
}

/// A client's pause and resume history (and its creation), newest first.
pub fn status_history(
    conn: &mut MysqlConnection,
    client_id: &str,
    actions: &[&str],
    limit: i64,
) -> Result<Vec<AuditEventRow>, DbError> {
    Ok(audit_events::table
        .filter(audit_events::target_type.eq("client"))
        .filter(audit_events::target_id.eq(client_id))
        .filter(audit_events::action.eq_any(actions))
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEventRow::as_select())
        .load(conn)?)
}
