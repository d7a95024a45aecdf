//! Deletes what can no longer be used: expired authorization requests, codes, tokens,
//! grants whose every token has expired, and keys no token needs any more.

use chrono::Duration;
use diesel::MysqlConnection;

use crate::db::DbError;
use crate::db::models::{
    access_tokens, authorization_requests, client_usage, codes, device_codes, grants, leases,
    refresh_tokens, secret_reveals, signing_keys,
};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub requests: usize,
    /// Device authorizations (RFC 8628) past their expiry.
    pub device_codes: usize,
    pub codes: usize,
    pub access_tokens: usize,
    pub refresh_tokens: usize,
    pub grants: usize,
    pub keys: usize,
    pub reveals: usize,
    /// Audit events older than the retention setting.
    pub audit_events: usize,
    /// Throttle buckets nobody has charged for longer than their policy remembers.
    pub throttles: usize,
    /// Change-log rows older than an hour.
    pub changes: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.requests
            + self.device_codes
            + self.codes
            + self.access_tokens
            + self.refresh_tokens
            + self.grants
            + self.keys
            + self.reveals
            + self.audit_events
            + self.throttles
            + self.changes
    }
}

/// How long a purge may hold its lease; a server that dies mid-purge frees it by then.
const LEASE: Duration = Duration::minutes(15);

/// Purges, unless another server is purging the same database right now (a lease row keeps
/// two purges, on any nodes of a cluster, from counting the same expired tokens into the
/// daily totals): then `None`, as that one does the work.
pub fn run(conn: &mut MysqlConnection) -> Result<Option<Purged>, DbError> {
    let holder = crate::auth::random_token(24);
    let now = crate::db::models::now();
    if !leases::take(conn, "purge", &holder, now, now + LEASE)? {
        return Ok(None);
    }
    let purged = purge(conn);
    leases::release(conn, "purge", &holder, crate::db::models::now())?;
    purged.map(Some)
}

fn purge(conn: &mut MysqlConnection) -> Result<Purged, DbError> {
    let now = crate::db::models::now();
    Ok(Purged {
        requests: authorization_requests::delete_expired(conn, now)?,
        // Kept an hour too: a late poll hears `expired_token`, not `invalid_grant`.
        device_codes: device_codes::delete_expired(conn, now - Duration::hours(1))?,
        // A used code is kept an hour past its expiry so that a late replay still finds
        // it and revokes what it issued.
        codes: codes::delete_expired(conn, now - Duration::hours(1))?,
        // Counted per client and day first: the console's chart outlives the rows.
        access_tokens: crate::db::transaction(conn, |conn| {
            client_usage::roll_up_expired(conn, now)?;
            access_tokens::delete_expired(conn, now)
        })?,
        refresh_tokens: refresh_tokens::delete_expired(conn, now)?,
        grants: grants::delete_expired(conn, now)?,
        keys: signing_keys::delete_unpublished(conn, now)?,
        reveals: secret_reveals::delete_expired(conn, now)?,
        audit_events: purge_audit(conn, now)?,
        throttles: crate::auth::throttle::delete_expired(conn, now)?,
        // Followers read only the last seconds of the log.
        changes: crate::db::changes::delete_older_than(conn, now - Duration::hours(1))?,
    })
}

/// Applies the audit retention setting (0 keeps everything); the purge itself is audited,
/// so the log says when and how much of it was removed.
fn purge_audit(conn: &mut MysqlConnection, now: chrono::NaiveDateTime) -> Result<usize, DbError> {
    let days = crate::oauth::settings::Settings::load(conn)?.audit_retention_days;
    if days == 0 {
        return Ok(0);
    }
    let before = now - Duration::days(days);
    let deleted = crate::db::models::audit_events::delete_older_than(conn, before)?;
    if deleted > 0 {
        crate::audit::record(
            conn,
            crate::audit::Event::new("system", crate::audit::AUDIT_PURGED).details(
                serde_json::json!({
                    "deleted": deleted,
                    "retention_days": days,
                    "older_than": before.format("%Y-%m-%d %H:%M:%S").to_string(),
                }),
            ),
        )?;
    }
    Ok(deleted)
}
