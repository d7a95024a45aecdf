//! The change log: every write that the servers' in-memory state depends on also writes a
//! row to `change_log`, in the same transaction, naming what changed. Every server follows
//! the log (`oauth::live`), so a change made through one is in force on all of them.
//!
//! The server that made a change applies it to its own memory at once, after the commit:
//! [`record`] keeps it on the thread until the outermost [`super::transaction`] commits (and
//! drops it on a rollback), then hands it to every [`Sink`] registered in this process. A
//! sink that receives a change for another database only evicts an entry it reloads.

use std::cell::RefCell;
use std::sync::{Arc, RwLock, Weak};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbError;
use super::schema::change_log;

/// What changed. Each is an instruction to forget: the next read loads it afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The General settings.
    Settings,
    /// A client, by its row id: created, edited, paused, resumed, deleted, new secret.
    Client(i64),
    /// A user, by id: role, password, sessions or site access changed.
    User(i64),
    /// One access token revoked, by `jti`.
    Token(String),
    /// One grant revoked, with every token issued under it.
    Grant(i64),
    /// Some grants of this client (by row id) were revoked.
    ClientGrants(i64),
    /// Some grants of this user were revoked.
    UserGrants(i64),
    /// Websites were added or changed.
    Sites,
    /// Signing keys were added or retired.
    Keys,
    /// Anything may have changed (the tables were edited by hand): forget everything.
    All,
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Change::Settings => "settings",
            Change::Client(_) => "client",
            Change::User(_) => "user",
            Change::Token(_) => "token",
            Change::Grant(_) => "grant",
            Change::ClientGrants(_) => "client_grants",
            Change::UserGrants(_) => "user_grants",
            Change::Sites => "sites",
            Change::Keys => "keys",
            Change::All => "all",
        }
    }

    fn subject(&self) -> String {
        match self {
            Change::Settings | Change::Sites | Change::Keys | Change::All => String::new(),
            Change::Client(id)
            | Change::User(id)
            | Change::Grant(id)
            | Change::ClientGrants(id)
            | Change::UserGrants(id) => id.to_string(),
            Change::Token(jti) => jti.clone(),
        }
    }

    /// The change a stored row names; `None` for a kind this version does not know (a
    /// newer server wrote it), which the reader skips.
    pub fn from_stored(kind: &str, subject: &str) -> Option<Self> {
        let id = || subject.parse::<i64>().ok();
        Some(match kind {
            "settings" => Change::Settings,
            "client" => Change::Client(id()?),
            "user" => Change::User(id()?),
            "token" => Change::Token(subject.to_string()),
            "grant" => Change::Grant(id()?),
            "client_grants" => Change::ClientGrants(id()?),
            "user_grants" => Change::UserGrants(id()?),
            "sites" => Change::Sites,
            "keys" => Change::Keys,
            "all" => Change::All,
            _ => return None,
        })
    }
}

/// What receives this process's own changes once they are committed.
pub trait Sink: Send + Sync {
    fn apply(&self, change: &Change);
}

static SINKS: RwLock<Vec<Weak<dyn Sink>>> = RwLock::new(Vec::new());

/// Registers `sink` for the changes this process commits, for as long as it lives.
pub fn subscribe(sink: &Arc<dyn Sink>) {
    let mut sinks = SINKS.write().unwrap_or_else(|p| p.into_inner());
    sinks.retain(|s| s.strong_count() > 0);
    sinks.push(Arc::downgrade(sink));
}

thread_local! {
    /// Changes recorded inside the transaction running on this thread, not yet committed.
    static PENDING: RefCell<Vec<Change>> = const { RefCell::new(Vec::new()) };
    /// How many of our transactions are open on this thread.
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Writes `change` to the log in the caller's transaction.
pub fn record(conn: &mut MysqlConnection, change: Change) -> Result<(), DbError> {
    diesel::insert_into(change_log::table)
        .values((
            change_log::kind.eq(change.kind()),
            change_log::subject.eq(change.subject()),
            change_log::created_at.eq(super::models::now()),
        ))
        .execute(conn)?;
    if DEPTH.with(|d| d.get()) == 0 {
        // Not in a transaction of ours: the row is committed already.
        deliver(&[change]);
    } else {
        PENDING.with(|p| p.borrow_mut().push(change));
    }
    Ok(())
}

/// One attempt of a [`super::transaction`]: changes recorded meanwhile wait for its end,
/// and reach this server's memory only if the outermost transaction committed.
pub(super) struct Attempt {
    outermost: bool,
    ended: bool,
}

impl Attempt {
    pub(super) fn begin(outermost: bool) -> Self {
        DEPTH.with(|d| d.set(d.get() + 1));
        Self {
            outermost,
            ended: false,
        }
    }

    pub(super) fn end(mut self, committed: bool) {
        self.finish(committed);
    }

    fn finish(&mut self, committed: bool) {
        if self.ended {
            return;
        }
        self.ended = true;
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        if self.outermost {
            let changes = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
            if committed {
                deliver(&changes);
            }
        }
    }
}

impl Drop for Attempt {
    /// A panic inside the transaction: it rolled back, so what it recorded is dropped.
    fn drop(&mut self) {
        self.finish(false);
    }
}

fn deliver(changes: &[Change]) {
    if changes.is_empty() {
        return;
    }
    let sinks: Vec<Arc<dyn Sink>> = SINKS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for sink in sinks {
        for change in changes {
            sink.apply(change);
        }
    }
}

/// A row of the log as a follower reads it.
#[derive(Debug, Clone, Queryable)]
pub struct ChangeRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
}

/// The rows after `after`, in id order, at most `limit`.
pub fn since(
    conn: &mut MysqlConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, DbError> {
    Ok(change_log::table
        .filter(change_log::id.gt(after))
        .order(change_log::id.asc())
        .limit(limit)
        .select((change_log::id, change_log::kind, change_log::subject))
        .load(conn)?)
}

/// The newest id among rows written before `before` (0 when there is none).
pub fn newest_before(conn: &mut MysqlConnection, before: NaiveDateTime) -> Result<i64, DbError> {
    Ok(change_log::table
        .filter(change_log::created_at.lt(before))
        .select(diesel::dsl::max(change_log::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Rows older than `before` go (the janitor): followers only read the last seconds.
pub fn delete_older_than(
    conn: &mut MysqlConnection,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(change_log::table.filter(change_log::created_at.lt(before)))
            .execute(conn)?,
    )
}
