//! MariaDB Galera: what a node of a synchronous multi-primary cluster needs so that
//! Consentry keeps the guarantees it gives on one server.
//!
//! Galera applies a commit on the other nodes a moment after it returns to the client, so a
//! read on another node can miss it (a code just issued, a token just revoked). With
//! `wsrep_sync_wait` a read first waits until its node has applied every write committed
//! anywhere before it began. Every connection sets it when its server is a Galera node
//! (1 by default: reads; `CONSENTRY_GALERA_SYNC_WAIT` for another mask); elsewhere the
//! setting changes nothing.

use std::sync::atomic::{AtomicU8, Ordering};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{MysqlConnection, QueryableByName, RunQueryDsl};

use crate::db::DbError;

static SYNC_WAIT: AtomicU8 = AtomicU8::new(1);

/// Sets the `wsrep_sync_wait` mask for connections opened from now on.
pub fn configure(sync_wait: u8) {
    SYNC_WAIT.store(sync_wait, Ordering::Relaxed);
}

/// The assignment for a MariaDB `SET SESSION`: the configured mask on a Galera node, and
/// the session's own value (nothing changes) elsewhere.
pub(super) fn session_assignment() -> String {
    format!(
        "wsrep_sync_wait = IF(@@wsrep_on, {}, @@session.wsrep_sync_wait)",
        SYNC_WAIT.load(Ordering::Relaxed)
    )
}

/// What a Galera node says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// This connection's `wsrep_sync_wait`.
    pub sync_wait: i64,
    /// A synced member of the primary component (`wsrep_ready` ON, `wsrep_local_state` 4):
    /// only such a node may serve.
    pub synced: bool,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(QueryableByName)]
struct Wsrep {
    #[diesel(sql_type = BigInt)]
    wsrep_on: i64,
    #[diesel(sql_type = BigInt)]
    sync_wait: i64,
    #[diesel(sql_type = Nullable<Text>)]
    ready: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    local_state: Option<String>,
}

/// Whether the server is MariaDB (whose session settings differ from MySQL's).
pub(super) fn is_mariadb(conn: &mut MysqlConnection) -> Result<bool, diesel::result::Error> {
    let version: Version = diesel::sql_query("SELECT VERSION() AS v").get_result(conn)?;
    Ok(version.v.contains("MariaDB"))
}

/// The connection's server as a Galera node; `None` when it is not one.
pub fn node(conn: &mut MysqlConnection) -> Result<Option<Node>, DbError> {
    if !is_mariadb(conn)? {
        return Ok(None);
    }
    let status = |name: &str| {
        format!(
            "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '{name}')"
        )
    };
    let w: Wsrep = diesel::sql_query(format!(
        "SELECT @@wsrep_on + 0 AS wsrep_on, @@session.wsrep_sync_wait + 0 AS sync_wait, \
         {} AS ready, {} AS local_state",
        status("WSREP_READY"),
        status("WSREP_LOCAL_STATE"),
    ))
    .get_result(conn)?;
    if w.wsrep_on == 0 {
        return Ok(None);
    }
    Ok(Some(Node {
        sync_wait: w.sync_wait,
        synced: w.ready.as_deref() == Some("ON") && w.local_state.as_deref() == Some("4"),
    }))
}

/// Sets `wsrep_sync_wait` on a connection made outside the pools (a command's own).
pub fn read_your_writes(conn: &mut MysqlConnection) -> Result<(), DbError> {
    if is_mariadb(conn)? {
        conn.batch_execute(&format!("SET SESSION {}", session_assignment()))?;
    }
    Ok(())
}
