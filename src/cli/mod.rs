//! The command line: `serve` (the default), `migrate`, `user`, `client`, `keys`, `purge`,
//! `site` and `access`. Every failure is one
//! line on standard error and exit code 2; commands call the same functions as the pages.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use diesel::{Connection, MysqlConnection};
use serde_json::json;

use crate::audit::Actor;
use crate::auth::accounts::{self, AccountError};
use crate::config::{Config, ConfigError, KeySource};
use crate::db::{self, DbError};
use crate::domain::Client;
use crate::domain::{
    AccessLevel, ClientStatus, Email, InvalidInput, Login, Password, Role, SiteName, SiteUrl,
    parse_site_id,
};
use crate::oauth::clients::{self as registrar, ClientError, ClientInput};
use crate::web::app::StartupError;

mod clients;
mod keys;
mod settings;
mod sites;
mod users;

pub use clients::ClientCommand;
use clients::{client, client_error_line};
pub use keys::KeysCommand;
use keys::keys;
pub use settings::SettingsCommand;
use settings::settings;
pub use sites::{AccessCommand, SiteCommand};
use sites::{access, site};
pub use users::UserCommand;
use users::user;

#[derive(Parser, Debug)]
#[command(
    name = "consentry",
    version,
    about = "Consentry: a self-hosted OAuth 2.0 authorization server with an administration console"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Prepare the database and serve the console and OAuth endpoints (the default).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Manage console users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage OAuth 2.0 clients.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Show or change the General settings (OAuth 2.0).
    Settings {
        #[command(subcommand)]
        command: SettingsCommand,
    },
    /// Manage the keys that sign access tokens.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Delete expired codes, tokens, grants and retired keys now (the server also does it hourly).
    Purge,
    /// Manage websites.
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// Manage a user's access to websites.
    Access {
        #[command(subcommand)]
        command: AccessCommand,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("{flag}: {message}")]
    Invalid {
        flag: &'static str,
        message: InvalidInput,
    },
    #[error("{0}")]
    Account(#[from] AccountError),
    #[error("{}", client_error_line(.0))]
    Client(#[from] ClientError),
    #[error("{0}")]
    Site(#[from] crate::sites::SiteError),
    #[error("database error: {0}")]
    Database(String),
    #[error(
        "the database schema is older than this consentry ({0} migration(s) pending): run `consentry migrate` first"
    )]
    SchemaBehind(usize),
    /// The database cannot be reached or set up: named by the variable that points at it.
    #[error("DATABASE_URL: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Io(String),
}

impl From<DbError> for CliError {
    fn from(e: DbError) -> Self {
        CliError::Database(format!("{} ({})", one_line(&e), e.class()))
    }
}

fn invalid(flag: &'static str) -> impl FnOnce(InvalidInput) -> CliError {
    move |message| CliError::Invalid { flag, message }
}

/// One line, whatever the driver printed.
/// Who the command line acts as in the audit log.
fn cli_actor() -> crate::audit::Actor {
    crate::audit::Actor::new("cli")
}

fn one_line(s: impl std::fmt::Display) -> String {
    s.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn unreachable_db(config: &Config, e: DbError) -> CliError {
    CliError::Unreachable(format!(
        "cannot use the database at {} ({}); fix: start MariaDB/MySQL there (scripts/run does it) or point DATABASE_URL at a running server",
        config.database_url.address(),
        one_line(e)
    ))
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Migrate => {
            let config = Config::from_env()?;
            let applied =
                db::prepare(&config.database_url).map_err(|e| unreachable_db(&config, e))?;
            println!(
                "database {} is up to date ({applied} migration(s) applied)",
                config.database_url.database_name()
            );
            Ok(())
        }
        Command::User { command } => user(command),
        Command::Client { command } => client(command),
        Command::Keys { command } => keys(command),
        Command::Settings { command } => settings(command),
        Command::Site { command } => site(command),
        Command::Access { command } => access(command),
        Command::Purge => {
            let mut conn = prepared_connection()?;
            let Some(purged) = crate::oauth::purge::run(&mut conn)? else {
                println!("skipped: another server is purging this database right now");
                return Ok(());
            };
            println!(
                "purged {} row(s): {} authorization request(s), {} code(s), {} access token(s), {} refresh token(s), {} grant(s), {} key(s), {} audit event(s)",
                purged.total(),
                purged.requests,
                purged.codes,
                purged.access_tokens,
                purged.refresh_tokens,
                purged.grants,
                purged.keys,
                purged.audit_events
            );
            Ok(())
        }
    }
}

fn oauth_error(e: crate::oauth::error::OAuthError) -> CliError {
    match e {
        crate::oauth::error::OAuthError::Db(db) => db.into(),
        other => CliError::Io(one_line(other)),
    }
}

fn serve() -> Result<(), CliError> {
    let config = Config::from_env()?;
    db::galera::configure(config.galera_sync_wait);
    db::create_database_if_missing(&config.database_url).map_err(|e| unreachable_db(&config, e))?;
    // One server at a time (several may start together on an empty database).
    let applied = db::setup::exclusively(&config.database_url, || -> Result<usize, CliError> {
        let applied = db::migrate(&config.database_url).map_err(|e| unreachable_db(&config, e))?;
        let mut conn = connect(&config)?;
        ensure_first_superuser(&mut conn, &config)?;
        // The first start generates the token signing key.
        crate::oauth::keys::ensure_signing_key(&mut conn).map_err(oauth_error)?;
        Ok(applied)
    })?;
    if applied > 0 {
        tracing::info!(applied, "applied database migrations");
    }
    let pool = db::build_pool(
        &config.database_urls,
        config.db_pool_size,
        config.db_timeout,
    )
    .map_err(|e| unreachable_db(&config, e))?;
    log_galera(&pool);
    if !db::net_timeouts::active() {
        tracing::warn!(
            "the MySQL client library was linked statically: connection read/write timeouts are not set, so a frozen network can hold connections until TCP gives up"
        );
    }
    if config.session_key_source == KeySource::Generated {
        tracing::warn!(
            path = %config.data_dir.join("session.key").display(),
            "CONSENTRY_SESSION_KEY is unset: generated a session key and stored it (mode 0600); it is reused on restart"
        );
    }
    crate::web::app::serve(config, pool)?;
    Ok(())
}

/// Says once at start whether the database is a Galera node, and how reads are kept
/// consistent across its nodes.
fn log_galera(pool: &db::DbPool) {
    let node = pool
        .get()
        .map_err(|e| DbError::Unavailable(e.to_string()))
        .and_then(|mut conn| db::galera::node(&mut conn));
    match node {
        Ok(Some(node)) if node.sync_wait == 0 => tracing::warn!(
            "the database is a Galera node with wsrep_sync_wait = 0: a read on this node may miss a write just committed on another (a fresh code, a revocation); unset CONSENTRY_GALERA_SYNC_WAIT"
        ),
        Ok(Some(node)) => tracing::info!(
            wsrep_sync_wait = node.sync_wait,
            synced = node.synced,
            "the database is a Galera node: every read waits for the writes committed before it on any node"
        ),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not tell whether the database is a Galera node")
        }
    }
}

/// Creates the first superuser when there is none (scripts/run relies on this).
fn ensure_first_superuser(conn: &mut MysqlConnection, config: &Config) -> Result<(), CliError> {
    let first = &config.first_superuser;
    if let Some(created) =
        accounts::ensure_first_superuser(conn, &first.login, &first.email, first.password.clone())?
    {
        match created.generated_password {
            // Printed once to the operator's terminal, never logged.
            Some(pw) => println!(
                "Created the first superuser '{}' with password: {pw}\n(shown only this once; change it with: consentry user set-password --login {})",
                created.login, created.login
            ),
            None => println!(
                "Created the first superuser '{}' with the password from CONSENTRY_ADMIN_PASSWORD",
                created.login
            ),
        }
    }
    Ok(())
}

/// A connection for a command: an operator's purge or import may run long statements, so
/// reads may take ten minutes (connecting still gives up after a few seconds).
fn connect(config: &Config) -> Result<MysqlConnection, CliError> {
    db::galera::configure(config.galera_sync_wait);
    let mut conn = db::net_timeouts::with_io_timeout(600, || {
        MysqlConnection::establish(config.database_url.full())
    })
    .map_err(|e| unreachable_db(config, DbError::Unavailable(e.to_string())))?;
    db::galera::read_your_writes(&mut conn).map_err(|e| unreachable_db(config, e))?;
    Ok(conn)
}

/// Connects for a command. Only `serve` and `migrate` change the schema: against a
/// database whose schema is older than this binary (or not there yet), a command refuses
/// with one line, so that it never runs half-migrated or migrates behind an operator's back.
fn prepared_connection() -> Result<MysqlConnection, CliError> {
    let config = Config::from_env()?;
    let mut conn = connect(&config)?;
    let pending = db::pending_migrations(&mut conn).map_err(|e| unreachable_db(&config, e))?;
    if pending > 0 {
        return Err(CliError::SchemaBehind(pending));
    }
    Ok(conn)
}

fn read_password(file: Option<&PathBuf>) -> Result<Password, CliError> {
    let raw = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            CliError::Io(format!(
                "--password-file: cannot read {} ({})",
                path.display(),
                one_line(e)
            ))
        })?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprint!("Password (input is visible; prefer --password-file): ");
            }
            let mut buf = String::new();
            stdin
                .lock()
                .read_to_string(&mut buf)
                .map_err(|e| CliError::Io(format!("standard input: {}", one_line(e))))?;
            buf
        }
    };
    let first_line = raw.lines().next().unwrap_or("");
    Password::parse(first_line).map_err(invalid("password"))
}
