//! Database access: the connection pool, embedded migrations, and thin model functions.
//!
//! Diesel is synchronous, so every call goes through [`run`], which moves the work onto
//! actix's blocking thread pool (`web::block`). Worker threads never wait on MySQL, and a
//! pool checkout that times out becomes [`DbError::Unavailable`] (HTTP 503) instead of a hang.

pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<ConnectionManager<MysqlConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<MysqlConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, or the server went away mid-query.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database query failed")]
    Query(#[source] DieselError),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => DbError::Unavailable(info.message().to_string()),
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("gone away")
                    || info.message().contains("Lost connection") =>
            {
                DbError::Unavailable(info.message().to_string())
            }
            _ => DbError::Query(e),
        }
    }
}

/// Builds the application pool. Connections are opened lazily beyond the first, are
/// checked on checkout, and a checkout waits at most `timeout` so requests fail fast
/// (503) while the database is away and recover on their own once it is back.
pub fn build_pool(url: &DatabaseUrl, size: u32, timeout: Duration) -> Result<DbPool, DbError> {
    let manager = ConnectionManager::<MysqlConnection>::new(url.full());
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        .test_on_check_out(true)
        .build(manager)
        .map_err(|e| DbError::Unavailable(e.to_string()))
}

/// Runs `f` with a pooled connection on the blocking thread pool.
pub async fn run<T, F>(pool: &DbPool, f: F) -> Result<T, DbError>
where
    F: FnOnce(&mut MysqlConnection) -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    run_with(pool, f).await
}

/// Like [`run`], for work whose own error type can carry a [`DbError`].
pub async fn run_with<T, E, F>(pool: &DbPool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut MysqlConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool
            .get()
            .map_err(|e| E::from(DbError::Unavailable(e.to_string())))?;
        f(&mut conn)
    })
    .await
    .map_err(|e| E::from(DbError::Unavailable(format!("blocking pool: {e}"))))?
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
    let mut conn =
        MysqlConnection::establish(url.full()).map_err(|e| DbError::Unavailable(e.to_string()))?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))?;
    Ok(applied.len())
}

/// Creates the database if needed and migrates it: what `serve` and `migrate` do first.
pub fn prepare(url: &DatabaseUrl) -> Result<usize, DbError> {
    create_database_if_missing(url)?;
    migrate(url)
}
