//! Database access: the connection pool, embedded migrations, and thin model functions.
//!
//! Diesel is synchronous, so every call goes through [`run`], which moves the work onto
//! the runtime's blocking thread pool (`spawn_blocking`). Worker threads never wait on MySQL, and a
//! pool checkout that times out becomes [`DbError::Unavailable`] (HTTP 503) instead of a hang.

pub mod changes;
pub mod galera;
pub mod models;
pub mod net_timeouts;
pub mod nodes;
pub mod schema;
pub mod setup;
mod url;

pub use url::{DatabaseUrl, InvalidDatabaseUrl};

use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::r2d2::{Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<nodes::Manager>;
pub type DbConn = PooledConnection<nodes::Manager>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, the server went away mid-query, or a statement
    /// hit its time or lock-wait limit: answered 503 with `Retry-After`.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Lost a race with another transaction (deadlock, or a Galera certification failure,
    /// both error 1213): [`transaction`] retries these; if they persist, 503.
    #[error("the transaction lost a race with another one: {0}")]
    Conflict(String),
    /// A row this write refers to is gone (foreign-key failure, 1451/1452): the client,
    /// user or grant was deleted meanwhile. Callers turn it into their own "not found".
    #[error("a referenced row is gone: {0}")]
    Vanished(String),
    #[error("database query failed ({operation}): {source}")]
    Query {
        /// Where in the code the failing work was started (file:line of its `db::run`).
        operation: String,
        #[source]
        source: DieselError,
    },
}

thread_local! {
    /// The `db::run` call site whose work runs on this thread now, for error messages.
    static OPERATION: std::cell::Cell<Option<&'static std::panic::Location<'static>>> =
        const { std::cell::Cell::new(None) };
}

/// Where the failing work was started: the `db::run` call site, file:line.
fn operation() -> String {
    OPERATION
        .with(|o| o.get())
        .map_or_else(|| "outside a request".to_string(), |l| l.to_string())
}

/// "error 1213 in src/oauth/tokens.rs:178: Deadlock found ...": the server's error
/// number (as diesel classifies it) and the operation, for the log.
fn described(code: &str, message: &str) -> String {
    format!("error {code} in {}: {message}", operation())
}

impl DbError {
    /// What kind of failure this is, for the logs and the command line: a lost race
    /// (`transient conflict`, tried again), a time limit (`timeout`), the connection
    /// (`connection`), a row written against the schema's rules (`constraint`), or
    /// anything else (`bug`: the statement itself is wrong).
    pub fn class(&self) -> &'static str {
        match self {
            DbError::Conflict(_) => "transient conflict",
            DbError::Unavailable(m) if is_timeout_message(m) => "timeout",
            DbError::Unavailable(_) => "connection",
            DbError::Vanished(_) => "constraint",
            DbError::Query {
                source:
                    DieselError::DatabaseError(
                        DatabaseErrorKind::UniqueViolation
                        | DatabaseErrorKind::ForeignKeyViolation
                        | DatabaseErrorKind::NotNullViolation
                        | DatabaseErrorKind::CheckViolation,
                        _,
                    ),
                ..
            } => "constraint",
            DbError::Query { .. } => "bug",
        }
    }

    /// Whether repeating the whole transaction may succeed. A lock-wait timeout (1205) is
    /// not repeated although it might: the wait has already used the request's whole time
    /// budget (`innodb_lock_wait_timeout` is `CONSENTRY_DB_TIMEOUT`), and answering 503 with
    /// `Retry-After` now keeps every answer within that bound plus a second.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DbError::Conflict(_))
    }

    /// Whether the same request may succeed later (503 with `Retry-After`, never 500).
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::Unavailable(_) | DbError::Conflict(_))
    }

    /// Whether the connection itself broke (the server went away or closed it): the same
    /// work on a new connection may succeed at once.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, DbError::Unavailable(m)
            if ["gone away", "Lost connection", "error 2013", "error 2006"].iter().any(|s| m.contains(s)))
    }

    /// A write for a client that was deleted, paused or given a new secret since the
    /// request was checked: answered as `invalid_client`.
    pub fn client_changed(detail: &str) -> Self {
        DbError::Vanished(format!("{detail} (`client_id`)"))
    }

    /// For a vanished row: whether it was the client (else a user, grant or code).
    pub fn vanished_client(&self) -> bool {
        matches!(self, DbError::Vanished(m) if m.contains("(`client_id`)"))
    }
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            // A commit that failed and whose rollback failed too: judged by the commit's error
            // (usually the connection went away; the outcome is unknown, so never "done").
            DieselError::RollbackErrorOnCommit { commit_error, .. } => DbError::from(*commit_error),
            DieselError::BrokenTransactionManager => {
                DbError::Unavailable("the connection's transaction state was lost".into())
            }
            DieselError::DatabaseError(kind, info) => {
                let message = info.message().to_string();
                match kind {
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand => {
                        DbError::Unavailable(described("2013", &message))
                    }
                    // Diesel classifies a deadlock only for prepared statements; a text
                    // sent whole (`batch_execute`) reports it by its message alone.
                    DatabaseErrorKind::SerializationFailure => {
                        DbError::Conflict(described("1213", &message))
                    }
                    _ if message.starts_with("Deadlock found")
                        || message.contains("WSREP detected deadlock") =>
                    {
                        DbError::Conflict(described("1213", &message))
                    }
                    // MySQL Group Replication's certification failure: the same lost race.
                    _ if message.contains("Plugin instructed the server to rollback") => {
                        DbError::Conflict(described("3101", &message))
                    }
                    // The server rolled the whole transaction back (a deadlock or a killed
                    // statement inside a nested one): repeating it from the top may succeed.
                    _ if message.contains("SAVEPOINT") && message.contains("does not exist") => {
                        DbError::Conflict(described("1305", &message))
                    }
                    // A row written refers to one deleted meanwhile (1452; not 1451, a delete
                    // blocked by children, which is a bug). The raw message is kept: it names
                    // the constraint and its column. Known by its message, as a text sent
                    // whole reports no kind.
                    _ if message.contains("Cannot add or update a child row") => {
                        DbError::Vanished(described("1452", &message))
                    }
                    _ if is_unavailable_message(&message) => {
                        DbError::Unavailable(described("1205/1969/3024", &message))
                    }
                    _ => DbError::Query {
                        operation: operation(),
                        source: DieselError::DatabaseError(kind, info),
                    },
                }
            }
            other => DbError::Query {
                operation: operation(),
                source: other,
            },
        }
    }
}

/// Messages of errors that mean a time limit was reached: a lock wait (1205), a statement
/// (MariaDB 1969, MySQL 3024) or a read on the network.
const TIME_LIMIT_MESSAGES: [&str; 4] = [
    "Lock wait timeout",
    "max_statement_time",
    "maximum statement execution time",
    "read timeout",
];

/// Messages of errors that mean the connection broke, the session was killed, or the node
/// may not serve now.
const CONNECTION_MESSAGES: [&str; 5] = [
    "gone away",
    "Lost connection",
    "Query execution was interrupted",
    "Can't connect",
    "WSREP has not yet prepared node",
];

/// Whether `message` says a time limit was reached (the server's, or one of ours: a pool
/// checkout that timed out, an answer not given within its bound).
fn is_timeout_message(message: &str) -> bool {
    TIME_LIMIT_MESSAGES
        .iter()
        .chain(&["timed out", "within"])
        .any(|m| message.contains(m))
}

/// Messages of errors that mean "not now" rather than "wrong".
fn is_unavailable_message(message: &str) -> bool {
    TIME_LIMIT_MESSAGES
        .iter()
        .chain(&CONNECTION_MESSAGES)
        .any(|m| message.contains(m))
}

/// How often a transaction that lost a race is tried again before answering 503.
const RETRIES: u32 = 4;

/// Runs `f` in a transaction, trying it again (after a short random pause) when it lost a
/// race with another transaction. `f` must be safe to repeat: it reads what it needs
/// inside the transaction, and nothing outside the database depends on a failed try.
pub fn transaction<T, E, F>(conn: &mut MysqlConnection, mut f: F) -> Result<T, E>
where
    F: FnMut(&mut MysqlConnection) -> Result<T, E>,
    E: From<DieselError> + Retryable,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    // Only the outermost transaction is repeated: inside another, the server has already
    // rolled the whole of it back, and the caller's own transaction must start over.
    let outermost = AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map(|d| d.is_none())
        .unwrap_or(false);
    let mut attempt = |conn: &mut MysqlConnection| {
        let attempt_changes = changes::Attempt::begin(outermost);
        let result = conn.transaction(&mut f);
        // The changes this transaction recorded reach this server's memory only now.
        attempt_changes.end(result.is_ok());
        result
    };
    if outermost {
        retry(|| attempt(conn))
    } else {
        attempt(conn)
    }
}

/// Runs `f`, and again (after a short random pause, at most [`RETRIES`] times) while it
/// fails with a lost race. `f` must be safe to repeat: a lost race rolled its work back.
pub fn retry<T, E: Retryable>(mut f: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if e.retryable() && attempt < RETRIES => {
                attempt += 1;
                let jitter = rand::random::<u64>() % (5 << attempt);
                std::thread::sleep(Duration::from_millis(2 + jitter));
            }
            other => return other,
        }
    }
}

/// Errors that can say they came from a lost race ([`DbError::Conflict`]).
pub trait Retryable {
    fn retryable(&self) -> bool;
}

impl Retryable for DbError {
    fn retryable(&self) -> bool {
        self.is_retryable()
    }
}

/// Builds the application pool on the database nodes `urls` (one, or a cluster's, in order
/// of preference: [`nodes`]). Connections are opened lazily beyond the first, are checked
/// on checkout, and a checkout waits at most `timeout` so requests fail fast (503) while
/// the database is away and recover on their own once it is back. Every connection gets
/// statement and lock-wait limits of `timeout` too ([`limit_session`]).
pub fn build_pool(urls: &[DatabaseUrl], size: u32, timeout: Duration) -> Result<DbPool, DbError> {
    pool_builder(size, timeout)
        .min_idle(Some(1))
        .build(nodes::Manager::new(urls, timeout))
        .map_err(|e| DbError::Unavailable(e.to_string()))
}

/// A pool like [`build_pool`]'s that connects only when first used, so building it never
/// waits for the database.
pub fn build_lazy_pool(urls: &[DatabaseUrl], size: u32, timeout: Duration) -> DbPool {
    pool_builder(size, timeout)
        .min_idle(Some(0))
        .build_unchecked(nodes::Manager::new(urls, timeout))
}

fn pool_builder(size: u32, timeout: Duration) -> diesel::r2d2::Builder<nodes::Manager> {
    let secs = timeout.as_secs().max(1) as u32;
    // Reads and writes get a little longer than the server's own statement limit, so a
    // slow statement is reported by the server; only a silent network trips these.
    net_timeouts::configure(secs, secs + 2);
    Pool::builder()
        .max_size(size)
        .connection_timeout(timeout)
        .test_on_check_out(true)
        .event_handler(Box::new(PoolMetrics))
}

/// Reports how long each checkout waited, and each that gave up, to the metrics.
#[derive(Debug)]
struct PoolMetrics;

impl diesel::r2d2::HandleEvent for PoolMetrics {
    fn handle_checkout(&self, event: diesel::r2d2::event::CheckoutEvent) {
        crate::telemetry::metrics::db_pool_wait(event.duration());
    }

    fn handle_timeout(&self, _event: diesel::r2d2::event::TimeoutEvent) {
        crate::telemetry::metrics::db_pool_timeout();
    }
}

/// Server-side limits set on each new connection, so that a statement stuck behind a
/// lock or a slow plan ends with an error instead of waiting for MariaDB's defaults (a
/// day for `lock_wait_timeout`). MySQL 8 names its statement limit differently and
/// applies it to reads only (`max_execution_time`, in milliseconds).
fn limit_session(conn: &mut MysqlConnection, limit: Duration) -> Result<(), DieselError> {
    let secs = limit.as_secs().max(1);
    // On MariaDB, also read-your-writes on a Galera node (see `galera`).
    let statement_limit = if galera::is_mariadb(conn)? {
        format!(
            "max_statement_time = {secs}, {}",
            galera::session_assignment()
        )
    } else {
        format!("max_execution_time = {}", secs * 1000)
    };
    conn.batch_execute(&format!(
        "SET SESSION {statement_limit}, innodb_lock_wait_timeout = {secs}, lock_wait_timeout = {secs}"
    ))
}

/// Runs `f` with a pooled connection on the blocking thread pool.
#[track_caller]
pub fn run<T, F>(pool: &DbPool, f: F) -> impl Future<Output = Result<T, DbError>> + use<T, F>
where
    F: FnOnce(&mut MysqlConnection) -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    run_with(pool, f)
}

/// Like [`run`], for work whose own error type can carry a [`DbError`]. The whole call
/// (waiting for a connection and the work itself) answers within the pool's connection
/// timeout plus a second, whatever the database does: a frozen network or a held lock
/// becomes [`DbError::Unavailable`] in time, and the work left behind ends on its own
/// when its statement limit or the network gives up.
#[track_caller]
pub fn run_with<T, E, F>(pool: &DbPool, f: F) -> impl Future<Output = Result<T, E>> + use<T, E, F>
where
    F: FnOnce(&mut MysqlConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    run_lazy(pool, move |lazy: &mut Lazy| f(lazy.connection()?))
}

/// Where a function gets its connection: one it is handed, or one checked out only when
/// it is first needed ([`Lazy`]), so that work answered from memory costs no round trip.
pub trait Connect {
    fn connection(&mut self) -> Result<&mut MysqlConnection, DbError>;

    /// Gives a checked-out connection back to the pool before a wait that needs none.
    fn release(&mut self) {}

    /// Called before work that holds the CPU long (an RSA signature): work tried first on
    /// an async worker ([`run_memory_first`]) stops here and runs again off it, so the
    /// worker's other requests are not held up.
    fn slow_work(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// True the first time `charge` is asked about in this request, even when the work
    /// runs twice ([`run_memory_first`]): a rate charge made on the first run is not made
    /// again on the second.
    fn first_time(&mut self, charge: &'static str) -> bool {
        let _ = charge;
        true
    }
}

impl Connect for MysqlConnection {
    fn connection(&mut self) -> Result<&mut MysqlConnection, DbError> {
        Ok(self)
    }
}

/// A connection checked out of the pool on first use.
pub struct Lazy {
    pool: DbPool,
    conn: Option<DbConn>,
    /// Refuses every checkout, remembering that one was asked for ([`run_memory_first`]).
    memory_only: bool,
    wanted: bool,
    /// What [`Connect::first_time`] has answered, carried from the first run to the second.
    charged: Vec<&'static str>,
}

impl Connect for Lazy {
    fn connection(&mut self) -> Result<&mut MysqlConnection, DbError> {
        self.off_worker()?;
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self
                .pool
                .get()
                .map_err(|e| DbError::Unavailable(e.to_string()))?,
        };
        Ok(&mut **self.conn.insert(conn))
    }

    fn release(&mut self) {
        self.conn = None;
    }

    fn slow_work(&mut self) -> Result<(), DbError> {
        self.off_worker()
    }

    fn first_time(&mut self, charge: &'static str) -> bool {
        if self.charged.contains(&charge) {
            return false;
        }
        self.charged.push(charge);
        true
    }
}

impl Lazy {
    fn new(pool: DbPool, memory_only: bool, charged: Vec<&'static str>) -> Self {
        Self {
            pool,
            conn: None,
            memory_only,
            wanted: false,
            charged,
        }
    }

    /// Refuses on the memory-only run, which then runs again off the worker.
    fn off_worker(&mut self) -> Result<(), DbError> {
        if self.memory_only {
            self.wanted = true;
            return Err(DbError::Unavailable(
                "this work runs again off the async worker".into(),
            ));
        }
        Ok(())
    }
}

/// Like [`run_with`], handing the work a [`Lazy`] connection: work that finds what it
/// needs in memory never waits for the pool. Bounded in time the same way.
#[track_caller]
pub fn run_lazy<T, E, F>(pool: &DbPool, f: F) -> impl Future<Output = Result<T, E>> + use<T, E, F>
where
    F: FnOnce(&mut Lazy) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    run_lazy_charged(pool, Vec::new(), f)
}

/// [`run_lazy`], for a second run that keeps what the first one charged.
#[track_caller]
fn run_lazy_charged<T, E, F>(
    pool: &DbPool,
    charged: Vec<&'static str>,
    f: F,
) -> impl Future<Output = Result<T, E>> + use<T, E, F>
where
    F: FnOnce(&mut Lazy) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let pool = pool.clone();
    let caller = std::panic::Location::caller();
    async move {
        let deadline = pool.connection_timeout() + Duration::from_millis(900);
        // What the work logs carries the request's fields (its id).
        let span = tracing::Span::current();
        let work = tokio::task::spawn_blocking(move || {
            let _request = span.enter();
            OPERATION.with(|o| o.set(Some(caller)));
            let result = f(&mut Lazy::new(pool, false, charged));
            OPERATION.with(|o| o.set(None));
            result
        });
        match tokio::time::timeout(deadline, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(E::from(DbError::Unavailable(format!("blocking pool: {e}")))),
            Err(_) => {
                tracing::warn!(operation = %caller, "database work exceeded its time limit");
                Err(E::from(DbError::Unavailable(format!(
                    "no answer within {} ms ({caller})",
                    deadline.as_millis()
                ))))
            }
        }
    }
}

/// Runs `f` at once on the calling (async) thread with memory only; if it asked for a
/// connection (or announced [`Connect::slow_work`]) and failed, runs it again like
/// [`run_lazy`], keeping what it charged ([`Connect::first_time`]). For short work that the
/// in-memory state answers when warm (a client-credentials token): it then costs no
/// thread hop. `f` must do nothing that matters before its first connection, since the
/// first run may be thrown away at that point, except through [`Connect::first_time`].
#[track_caller]
pub fn run_memory_first<T, E, F>(
    pool: &DbPool,
    f: F,
) -> impl Future<Output = Result<T, E>> + use<T, E, F>
where
    F: Fn(&mut Lazy) -> Result<T, E> + Clone + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let mut memory = Lazy::new(pool.clone(), true, Vec::new());
    let first = f(&mut memory);
    let again = match first {
        Err(_) if memory.wanted => Some(run_lazy_charged(pool, memory.charged, f)),
        _ => None,
    };
    async move {
        match again {
            Some(work) => work.await,
            None => first,
        }
    }
}

/// Creates the database named in `url` when it does not exist yet (utf8mb4).
pub fn create_database_if_missing(url: &DatabaseUrl) -> Result<(), DbError> {
    let mut conn = MysqlConnection::establish(&url.server_only())
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    // The name was validated as [A-Za-z0-9_]{1,64} by DatabaseUrl::parse, so quoting is safe.
    conn.batch_execute(&format!(
        "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        url.database_name()
    ))
    .map_err(DbError::from)
}

/// Drops the database named in `url` (used by tests).
pub fn drop_database(url: &DatabaseUrl) -> Result<(), DbError> {
    let mut conn = MysqlConnection::establish(&url.server_only())
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    conn.batch_execute(&format!(
        "DROP DATABASE IF EXISTS `{}`",
        url.database_name()
    ))
    .map_err(DbError::from)
}

/// Applies every pending embedded migration; returns how many ran.
pub fn migrate(url: &DatabaseUrl) -> Result<usize, DbError> {
    // A migration may rebuild a large table in one statement: allow it an hour per read.
    net_timeouts::with_io_timeout(3600, || {
        let mut conn = MysqlConnection::establish(url.full())
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
        Ok(applied.len())
    })
}

/// How many of this binary's migrations the database has not had yet.
pub fn pending_migrations(conn: &mut MysqlConnection) -> Result<usize, DbError> {
    conn.pending_migrations(MIGRATIONS)
        .map(|pending| pending.len())
        .map_err(|e| DbError::Unavailable(format!("cannot read the applied migrations: {e}")))
}

/// Creates the database if needed and migrates it: what `serve` and `migrate` do first.
pub fn prepare(url: &DatabaseUrl) -> Result<usize, DbError> {
    create_database_if_missing(url)?;
    setup::exclusively(url, || migrate(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_are_classified_for_the_logs() {
        let query = |source| DbError::Query {
            operation: "test".into(),
            source,
        };
        let unique = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("Duplicate entry 'x' for key 'PRIMARY'".to_string()),
        );
        let cases = [
            (DbError::Conflict("error 1213".into()), "transient conflict"),
            (
                DbError::Unavailable("error 1205: Lock wait timeout exceeded".into()),
                "timeout",
            ),
            (
                DbError::Unavailable("Lost connection to server during query".into()),
                "connection",
            ),
            (DbError::Vanished("error 1452".into()), "constraint"),
            (query(unique), "constraint"),
            (query(DieselError::NotFound), "bug"),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error}");
        }
    }
}
