//! The command line: `serve` (the default), `migrate`, `user`, `client`, `keys`, `purge`,
//! `site` and `access`. Every failure is one
//! line on standard error and exit code 2; commands call the same functions as the pages.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use diesel::{Connection, MysqlConnection};
use serde_json::json;

use crate::auth::accounts::{self, AccountError};
use crate::auth::initial_password;
use crate::config::{Config, ConfigError, KeySource};
use crate::db::{self, DbError};
use crate::domain::{
    AccessLevel, ClientStatus, Email, InvalidInput, Login, Password, Role, SiteName, SiteUrl,
    parse_site_id,
};
use crate::domain::{Client, rfc3339};
use crate::oauth::clients::{self as registrar, ClientError, ClientInput};
use crate::web::app::StartupError;

mod audit;
mod clients;
mod keys;
mod settings;
mod sites;
mod users;

pub use audit::AuditCommand;
use audit::audit;
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
    about = "Consentry: a self-hosted OAuth 2.0 authorization server with an administration console",
    after_help = format!(
        "{}\nExit codes: 0 done, 1 failed, 2 bad usage, input or configuration, 3 database unreachable.",
        crate::config::environment_help()
    )
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
    Migrate {
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
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
    /// Export the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage the keys that sign access tokens.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Delete expired codes, tokens, grants and retired keys now (the server also does it hourly).
    Purge {
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
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
    /// Print a shell completion script (e.g. `consentry completions bash > /etc/bash_completion.d/consentry`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page, in roff (`consentry manpage | man -l -`).
    Manpage,
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

impl CliError {
    /// The exit code, as `consentry --help` documents them: 1 for a failure while doing
    /// the work, 2 for what the operator must change (input, configuration, an address in
    /// use, a schema to migrate), 3 when the database cannot be reached.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Unreachable(_) => 3,
            CliError::Database(_)
            | CliError::Io(_)
            | CliError::Account(AccountError::Db(_))
            | CliError::Client(ClientError::Db(_))
            | CliError::Site(crate::sites::SiteError::Db(_))
            | CliError::Startup(StartupError::Writer(_) | StartupError::Stopped(_)) => 1,
            CliError::Config(_)
            | CliError::Startup(_)
            | CliError::Invalid { .. }
            | CliError::Account(_)
            | CliError::Client(_)
            | CliError::Site(_)
            | CliError::SchemaBehind(_) => 2,
        }
    }
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
/// A form's refusal as the command line says it: the first message, under the flag that
/// sets its field (`flag_of`), since the console's forms and the commands share parsers.
fn form_error(errors: crate::domain::FieldErrors, flag_of: fn(&str) -> &'static str) -> CliError {
    let (field, message) = errors.first().unwrap_or(("", "invalid input"));
    CliError::Invalid {
        flag: flag_of(field),
        message: InvalidInput::new(message.to_string()),
    }
}

/// Who acts from the command line, written the same way in every audit event: `cli:` and
/// the operating-system user who ran it.
fn cli_actor() -> crate::audit::Actor {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| format!("uid {}", real_uid()));
    let user: String = user.chars().filter(|c| !c.is_control()).take(60).collect();
    crate::audit::Actor::new(format!("cli:{user}"))
}

/// The real user id, for an environment without `USER` (a service, a container).
fn real_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        })
        .and_then(|uid| uid.parse().ok())
        .unwrap_or(0)
}

/// Prints what a command did: `value` as JSON with `--json`, else `text`.
fn report(json: bool, text: impl std::fmt::Display, value: serde_json::Value) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
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
        Command::Migrate { json } => {
            let config = Config::from_env()?;
            let applied =
                db::prepare(&config.database_url).map_err(|e| unreachable_db(&config, e))?;
            let database = config.database_url.database_name();
            report(
                json,
                format!("database {database} is up to date ({applied} migration(s) applied)"),
                json!({ "database": database, "migrations_applied": applied }),
            );
            Ok(())
        }
        Command::User { command } => user(command),
        Command::Client { command } => client(command),
        Command::Keys { command } => keys(command),
        Command::Settings { command } => settings(command),
        Command::Audit { command } => audit(command),
        Command::Site { command } => site(command),
        Command::Access { command } => access(command),
        Command::Completions { shell } => {
            // Written in one go, so that a closed pipe is an error to report, not a panic.
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "consentry",
                &mut script,
            );
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map_err(|e| CliError::Io(format!("standard output: {}", one_line(e))))
        }
        Command::Manpage => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut std::io::stdout())
            .map_err(|e| CliError::Io(format!("standard output: {}", one_line(e)))),
        Command::Purge { json } => {
            let mut conn = prepared_connection()?;
            let Some(purged) = crate::oauth::purge::run(&mut conn)? else {
                report(
                    json,
                    "skipped: another server is purging this database right now",
                    json!({ "skipped": true }),
                );
                return Ok(());
            };
            if json {
                println!(
                    "{}",
                    json!({
                        "skipped": false,
                        "total": purged.total(),
                        "authorization_requests": purged.requests,
                        "device_codes": purged.device_codes,
                        "codes": purged.codes,
                        "access_tokens": purged.access_tokens,
                        "refresh_tokens": purged.refresh_tokens,
                        "grants": purged.grants,
                        "keys": purged.keys,
                        "secret_reveals": purged.reveals,
                        "audit_events": purged.audit_events,
                        "throttles": purged.throttles,
                        "changes": purged.changes,
                    })
                );
                return Ok(());
            }
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
    let listeners = crate::web::app::Listeners::bind(&config)?;
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
    crate::web::app::serve(config, pool, listeners)?;
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

/// Creates the first superuser when there is none (scripts/run relies on this). A
/// generated password goes to a private file, never to the log.
fn ensure_first_superuser(conn: &mut MysqlConnection, config: &Config) -> Result<(), CliError> {
    let first = &config.first_superuser;
    let Some(created) =
        accounts::ensure_first_superuser(conn, &first.login, &first.email, first.password.clone())?
    else {
        return Ok(());
    };
    let login = &created.login;
    match created.generated_password {
        Some(pw) => {
            // Exit 2 (configuration): a restart would not write it either, as the user exists.
            let path = initial_password::write(&config.data_dir, login, &pw).map_err(|e| {
                CliError::Config(ConfigError::new(
                    "CONSENTRY_DATA_DIR",
                    format!(
                        "created the first superuser '{login}' but cannot write its password to {} ({})",
                        initial_password::path(&config.data_dir).display(),
                        one_line(e)
                    ),
                    format!("make the directory writable, then set a password with `consentry user set-password --login {login}`"),
                ))
            })?;
            tracing::info!(
                %login,
                path = %path.display(),
                "created the first superuser; its generated password is in this file (mode 0600), which is removed when the password is changed"
            );
        }
        None => tracing::info!(
            %login,
            "created the first superuser with the password from CONSENTRY_ADMIN_PASSWORD"
        ),
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
        Some(path) => std::fs::read_to_string(path).map_err(|e| CliError::Invalid {
            flag: "--password-file",
            message: InvalidInput::new(format!("cannot read {} ({})", path.display(), one_line(e))),
        })?,
        // Typed at a terminal: asked without echo.
        None if std::io::stdin().is_terminal() => rpassword::prompt_password("Password: ")
            .map_err(|e| CliError::Io(format!("terminal: {}", one_line(e))))?,
        None => {
            let mut buf = String::new();
            std::io::stdin()
                .lock()
                .read_to_string(&mut buf)
                .map_err(|e| CliError::Io(format!("standard input: {}", one_line(e))))?;
            buf
        }
    };
    let first_line = raw.lines().next().unwrap_or("");
    Password::parse(first_line).map_err(invalid("password"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `consentry help` is the reference: every command and every flag says what it is for.
    #[test]
    fn every_command_and_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no help text");
            }
            for sub in cmd.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no help text",
                    sub.get_name()
                );
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        let cli = Cli::command();
        cli.clone().debug_assert();
        walk(&cli, "consentry");
    }

    /// Scripts read every command's outcome the same way: each one that prints something
    /// (all but the server and the shell files) takes --json.
    #[test]
    fn every_command_that_prints_takes_json() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let leaf = cmd.get_subcommands().next().is_none();
            let exempt = ["serve", "completions", "manpage", "help"];
            if leaf
                && !exempt.contains(&cmd.get_name())
                && !cmd.get_arguments().any(|a| a.get_id() == "json")
            {
                missing.push(path.to_string());
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "consentry", &mut missing);
        assert!(missing.is_empty(), "no --json: {missing:?}");
    }

    #[test]
    fn json_times_are_rfc3339_utc() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .unwrap()
            .and_hms_micro_opt(9, 41, 42, 123_456)
            .unwrap();
        assert_eq!(rfc3339(t), "2026-12-02T09:41:42Z");
    }
}
