//! One server at a time sets the database up. Several servers started together on an empty
//! database (a cluster's first start) would otherwise all create the same tables, the
//! first superuser and a signing key, and all but one would fail or leave duplicates.
//!
//! The lock is a row in a table of its own, created before the migrations (which it
//! guards) with `CREATE TABLE IF NOT EXISTS`: a row replicates to every node of a Galera
//! cluster, where `GET_LOCK` would only lock the node it runs on. It is held for at most
//! [`HOLD`]; a server that dies while holding it delays the others by that much at most.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, MysqlConnection, QueryableByName, RunQueryDsl};

use crate::db::{self, DatabaseUrl, DbError, galera};

/// How long one server may hold the lock.
const HOLD_SECS: u64 = 300;
const HOLD: Duration = Duration::from_secs(HOLD_SECS);
/// How often a waiting server looks again.
const POLL: Duration = Duration::from_millis(200);

/// Runs `f` (migrations and first-start setup) while holding the database's setup lock,
/// waiting for another server that holds it (at most [`HOLD`]).
pub fn exclusively<T, E: From<DbError>>(
    url: &DatabaseUrl,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let (mut conn, holder) = acquire(url)?;
    let done = f();
    // Released even when `f` failed, so the next server tries at once.
    let released = db::retry(|| {
        conn.batch_execute(&format!(
            "UPDATE setup_lock SET until = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND \
             WHERE id = 1 AND holder = '{holder}'"
        ))
        .map_err(DbError::from)
    });
    let value = done?;
    released?;
    Ok(value)
}

/// Waits for the lock and takes it: the connection that holds it, and the holder's name.
fn acquire(url: &DatabaseUrl) -> Result<(MysqlConnection, String), DbError> {
    let mut conn =
        MysqlConnection::establish(url.full()).map_err(|e| DbError::Unavailable(e.to_string()))?;
    galera::read_your_writes(&mut conn)?;
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS setup_lock (
            id TINYINT NOT NULL PRIMARY KEY,
            holder VARCHAR(64) NOT NULL,
            until DATETIME(6) NOT NULL
        ) ENGINE = InnoDB",
    )?;
    let holder = format!("{:032x}", rand::random::<u128>());
    let waited = Instant::now();
    let mut said = false;
    while !take(&mut conn, &holder)? {
        if waited.elapsed() > HOLD + POLL {
            return Err(DbError::Unavailable(format!(
                "another server has been setting up this database for over {HOLD_SECS} s"
            )));
        }
        if !said {
            tracing::info!("another server is setting up the database; waiting for it");
            said = true;
        }
        std::thread::sleep(POLL);
    }
    Ok((conn, holder))
}

/// Takes the lock for `holder` if it is free or expired; true when `holder` has it.
fn take(conn: &mut MysqlConnection, holder: &str) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct Holder {
        #[diesel(sql_type = Text)]
        holder: String,
    }
    // Two servers racing here on two Galera nodes: one commit wins, the other is aborted
    // with error 1213 and tries again, then sees the winner's row.
    db::retry(|| {
        conn.batch_execute(&format!(
            "INSERT INTO setup_lock (id, holder, until) \
             VALUES (1, '{holder}', UTC_TIMESTAMP(6) + INTERVAL {HOLD_SECS} SECOND) \
             ON DUPLICATE KEY UPDATE id = id; \
             UPDATE setup_lock SET holder = '{holder}', \
             until = UTC_TIMESTAMP(6) + INTERVAL {HOLD_SECS} SECOND \
             WHERE id = 1 AND until < UTC_TIMESTAMP(6)"
        ))
        .map_err(DbError::from)
    })?;
    let now: Holder =
        diesel::sql_query("SELECT holder FROM setup_lock WHERE id = 1").get_result(conn)?;
    Ok(now.holder == holder)
}
