//! The command line: `serve` (the default), `migrate`, `user`, `client`, `keys`, `purge`,
//! `site` and `access`. Every failure is one
//! line on standard error and exit code 2; commands call the same functions as the pages.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use diesel::{Connection, MysqlConnection};
use serde_json::json;

use crate::audit::Actor;
use crate::auth::accounts::{self, AccountError};
use crate::config::{Config, ConfigError, KeySource};
use crate::db::models::clients::ClientRow;
use crate::db::{self, DbError};
use crate::domain::{
    AccessLevel, ClientName, ClientStatus, ClientType, Email, GrantType, InvalidInput, Login,
    Password, RedirectUri, Role, Scope, SiteName, SiteUrl, parse_description, parse_site_id,
    parse_web_url,
};
use crate::oauth::clients::{self as registrar, ClientError, ClientSpec};
use crate::web::app::StartupError;

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

#[derive(Subcommand, Debug)]
pub enum SiteCommand {
    /// Add a website; prints its ID.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
    },
    /// List websites.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccessCommand {
    /// Give a user a level on a website (replacing the one they had).
    Grant {
        #[arg(long)]
        login: String,
        #[arg(long)]
        site: String,
        #[arg(long, value_name = "view|write|admin")]
        level: String,
    },
    /// Remove a user's access to a website.
    Remove {
        #[arg(long)]
        login: String,
        #[arg(long)]
        site: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new signing key: published at once, signing an hour later (when the old one
    /// retires, staying published until its tokens have expired).
    Rotate {
        /// Sign with the new key at once (a leaked key): verifiers that cached the JWKS
        /// fetch it again when they meet the new kid.
        #[arg(long)]
        activate_now: bool,
    },
    /// List the published keys.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client; a confidential client's secret is printed this once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long = "type", value_name = "confidential|public")]
        client_type: String,
        #[arg(long = "grant", num_args = 1.., required = true, value_name = "GRANT")]
        grants: Vec<String>,
        #[arg(long = "scope", num_args = 1.., required = true, value_name = "SCOPE")]
        scopes: Vec<String>,
        #[arg(long = "redirect-uri", num_args = 1.., value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Skip the consent screen for this client.
        #[arg(long)]
        trusted: bool,
        /// A resource server: may introspect tokens issued to any client.
        #[arg(long)]
        may_introspect_any: bool,
        #[arg(long)]
        homepage: Option<String>,
        #[arg(long)]
        icon: Option<String>,
        /// The owning superuser (default: the first superuser).
        #[arg(long)]
        owner: Option<String>,
        /// Print {"client_id": ..., "client_secret": ...}.
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Pause a client: its requests are refused until it is resumed.
    Pause { client_id: String },
    /// Resume a paused client.
    Resume { client_id: String },
    /// Delete a client for good.
    Delete { client_id: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input or --password-file.
    Create {
        #[arg(long)]
        login: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["superuser", "support", "user"])]
        role: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's password (read from standard input or --password-file).
    SetPassword {
        #[arg(long)]
        login: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Keep the applications' tokens the user authorized (by default they are revoked,
        /// as a reset usually means the old password leaked).
        #[arg(long)]
        keep_grants: bool,
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
    #[error("DATABASE_URL: {0}")]
    Database(String),
    #[error("{0}")]
    Io(String),
}

impl From<DbError> for CliError {
    fn from(e: DbError) -> Self {
        CliError::Database(one_line(e))
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
    CliError::Database(format!(
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
        Command::Site { command } => site(command),
        Command::Access { command } => access(command),
        Command::Purge => {
            let mut conn = prepared_connection()?;
            let purged = crate::oauth::purge::run(&mut conn)?;
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

fn site(command: SiteCommand) -> Result<(), CliError> {
    match command {
        SiteCommand::Create { name, url } => {
            let name = SiteName::parse(&name).map_err(invalid("--name"))?;
            let url = SiteUrl::parse(&url).map_err(invalid("--url"))?;
            let mut conn = prepared_connection()?;
            let id = crate::sites::create(&mut conn, &name, &url, &Actor::new("cli"))?;
            println!("{id}");
        }
        SiteCommand::List { json } => {
            let mut conn = prepared_connection()?;
            let sites = db::models::sites::list(&mut conn)?;
            if json {
                let list: Vec<_> = sites
                    .iter()
                    .map(|s| json!({ "idsite": s.id, "name": s.name, "main_url": s.main_url }))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for s in sites {
                    println!("{:<6} {:<40} {}", s.id, s.name, s.main_url);
                }
            }
        }
    }
    Ok(())
}

fn access(command: AccessCommand) -> Result<(), CliError> {
    let (login, site, level) = match command {
        AccessCommand::Grant { login, site, level } => {
            let level: AccessLevel = level.parse().map_err(invalid("--level"))?;
            (login, site, Some(level))
        }
        AccessCommand::Remove { login, site } => (login, site, None),
    };
    let site = parse_site_id(&site).map_err(invalid("--site"))?;
    let mut conn = prepared_connection()?;
    crate::sites::set_access(&mut conn, &login, site, level, &Actor::new("cli"))?;
    match level {
        Some(level) => println!("{login} now has {level} access to website {site}"),
        None => println!("{login} no longer has access to website {site}"),
    }
    Ok(())
}

fn keys(command: KeysCommand) -> Result<(), CliError> {
    let mut conn = prepared_connection()?;
    match command {
        KeysCommand::Rotate { activate_now } => {
            let now = db::models::now();
            let from = if activate_now {
                now
            } else {
                now + crate::oauth::keys::ACTIVATION_DELAY
            };
            let kid = crate::oauth::keys::generate(&mut conn, from).map_err(oauth_error)?;
            crate::audit::record(
                &mut conn,
                crate::audit::Event::new("cli", crate::audit::KEYS_ROTATED)
                    .target("key", &kid)
                    .details(json!({ "signs_from": from.format("%Y-%m-%d %H:%M:%S").to_string() })),
            )?;
            if activate_now {
                println!(
                    "new signing key {kid} signs from now; the previous key stays published for a day so its tokens keep verifying"
                );
            } else {
                println!(
                    "new signing key {kid} is published now and signs from {} UTC; the previous key signs until then and stays published for a day after",
                    from.format("%Y-%m-%d %H:%M:%S")
                );
            }
        }
        KeysCommand::List { json } => {
            let now = db::models::now();
            let rows = db::models::signing_keys::published(&mut conn, now)?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|r| json!({"kid": r.kid, "created_at": r.created_at.to_string(), "signing": r.signs_at(now), "signs_from": r.active_from.map(|t| t.to_string()), "publish_until": r.publish_until.map(|t| t.to_string())}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for r in rows {
                    let role = if r.signs_at(now) {
                        "signing"
                    } else if r.active_from.is_some_and(|a| a > now) {
                        "next"
                    } else {
                        "retired"
                    };
                    println!(
                        "{}  {}  created {}",
                        r.kid,
                        role,
                        r.created_at.format("%Y-%m-%d %H:%M:%S")
                    );
                }
            }
        }
    }
    Ok(())
}

fn oauth_error(e: crate::oauth::error::OAuthError) -> CliError {
    match e {
        crate::oauth::error::OAuthError::Db(db) => db.into(),
        other => CliError::Io(one_line(other)),
    }
}

fn serve() -> Result<(), CliError> {
    let config = Config::from_env()?;
    let applied = db::prepare(&config.database_url).map_err(|e| unreachable_db(&config, e))?;
    if applied > 0 {
        tracing::info!(applied, "applied database migrations");
    }
    let mut conn = connect(&config)?;
    ensure_first_superuser(&mut conn)?;
    // The first start generates the token signing key.
    crate::oauth::keys::ensure_signing_key(&mut conn).map_err(oauth_error)?;
    drop(conn);
    let pool = db::build_pool(&config.database_url, config.db_pool_size, config.db_timeout)
        .map_err(|e| unreachable_db(&config, e))?;
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

/// Creates the first superuser when there is none (scripts/run relies on this).
fn ensure_first_superuser(conn: &mut MysqlConnection) -> Result<(), CliError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let login = Login::parse(&env("CONSENTRY_ADMIN_LOGIN").unwrap_or_else(|| "admin".into()))
        .map_err(invalid("CONSENTRY_ADMIN_LOGIN"))?;
    let email =
        Email::parse(&env("CONSENTRY_ADMIN_EMAIL").unwrap_or_else(|| "admin@example.com".into()))
            .map_err(invalid("CONSENTRY_ADMIN_EMAIL"))?;
    let password = env("CONSENTRY_ADMIN_PASSWORD")
        .map(|p| Password::parse(&p))
        .transpose()
        .map_err(invalid("CONSENTRY_ADMIN_PASSWORD"))?;
    if let Some(created) = accounts::ensure_first_superuser(conn, &login, &email, password)? {
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
    db::net_timeouts::with_io_timeout(600, || {
        MysqlConnection::establish(config.database_url.full())
    })
    .map_err(|e| unreachable_db(config, DbError::Unavailable(e.to_string())))
}

/// Connects for a `user` command, creating and migrating the database first if needed.
fn prepared_connection() -> Result<MysqlConnection, CliError> {
    let config = Config::from_env()?;
    db::prepare(&config.database_url).map_err(|e| unreachable_db(&config, e))?;
    connect(&config)
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

fn user(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Create {
            login,
            email,
            role,
            password_file,
        } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            let email = Email::parse(&email).map_err(invalid("--email"))?;
            let role: Role = role.parse().map_err(invalid("--role"))?;
            let password = read_password(password_file.as_ref())?;
            let mut conn = prepared_connection()?;
            let hash = crate::auth::password::hash(&password);
            accounts::create(&mut conn, &login, &email, role, &hash, &cli_actor())?;
            println!("created {role} '{login}'");
        }
        UserCommand::List { json } => {
            let mut conn = prepared_connection()?;
            let users = db::models::users::list(&mut conn)?;
            if json {
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| {
                        json!({
                            "login": u.login,
                            "email": u.email,
                            "role": u.role,
                            "created_at": u.created_at.and_utc().to_rfc3339(),
                            "last_login_at": u.last_login_at.map(|t| t.and_utc().to_rfc3339()),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!(
                    "{:<24} {:<10} {:<32} LAST SIGN-IN (UTC)",
                    "LOGIN", "ROLE", "EMAIL"
                );
                for u in users {
                    let last = u
                        .last_login_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into());
                    println!("{:<24} {:<10} {:<32} {last}", u.login, u.role, u.email);
                }
            }
        }
        UserCommand::SetPassword {
            login,
            password_file,
            keep_grants,
        } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            let password = read_password(password_file.as_ref())?;
            let mut conn = prepared_connection()?;
            let hash = crate::auth::password::hash(&password);
            accounts::set_password(&mut conn, &login, &hash, &cli_actor(), !keep_grants)?;
            if keep_grants {
                println!("password of '{login}' changed; their console sessions ended");
            } else {
                println!(
                    "password of '{login}' changed; their console sessions ended and the applications they authorized lost access"
                );
            }
        }
    }
    Ok(())
}

fn client_error_line(e: &ClientError) -> String {
    match e {
        ClientError::Invalid { field, message } => format!("--{field}: {message}"),
        other => other.to_string(),
    }
}

fn client_json(c: &ClientRow) -> serde_json::Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "description": c.description,
        "type": c.client_type,
        "grant_types": c.grant_types.split_whitespace().collect::<Vec<_>>(),
        "scopes": c.scopes.split_whitespace().collect::<Vec<_>>(),
        "redirect_uris": c.redirect_uri_list(),
        "trusted": c.trusted,
        "may_introspect_any": c.may_introspect_any,
        "require_pkce": c.require_pkce,
        "homepage_url": c.homepage_url,
        "icon_url": c.icon_url,
        "status": c.status,
        "created_at": c.created_at.and_utc().to_rfc3339(),
        "last_used_at": c.last_used_at.map(|t| t.and_utc().to_rfc3339()),
    })
}

fn find_client(conn: &mut MysqlConnection, client_id: &str) -> Result<ClientRow, CliError> {
    db::models::clients::find_by_client_id(conn, client_id)?
        .ok_or_else(|| ClientError::UnknownClient(client_id.to_string()).into())
}

fn client(command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::Create {
            name,
            description,
            client_type,
            grants,
            scopes,
            redirect_uris,
            trusted,
            may_introspect_any,
            homepage,
            icon,
            owner,
            json,
        } => {
            let spec = ClientSpec {
                name: ClientName::parse(&name).map_err(invalid("--name"))?,
                description: parse_description(&description).map_err(invalid("--description"))?,
                client_type: ClientType::parse(&client_type).map_err(invalid("--type"))?,
                grants: GrantType::parse_list(&grants.join(" ")).map_err(invalid("--grant"))?,
                scopes: Scope::parse_list(&scopes.join(" ")).map_err(invalid("--scope"))?,
                redirect_uris: redirect_uris
                    .iter()
                    .map(|u| RedirectUri::parse(u))
                    .collect::<Result<_, _>>()
                    .map_err(invalid("--redirect-uri"))?,
                trusted,
                may_introspect_any,
                homepage_url: parse_web_url(homepage.as_deref().unwrap_or(""), "Homepage URL")
                    .map_err(invalid("--homepage"))?,
                icon_url: parse_web_url(icon.as_deref().unwrap_or(""), "Icon URL")
                    .map_err(invalid("--icon"))?,
            };
            let mut conn = prepared_connection()?;
            let owner = match owner {
                Some(login) => db::models::users::find_by_login(&mut conn, &login)?
                    .filter(|u| u.role() == Role::Superuser)
                    .ok_or_else(|| CliError::Invalid {
                        flag: "--owner",
                        message: InvalidInput::new(format!("no superuser has login '{login}'.")),
                    })?,
                None => db::models::users::first_superuser(&mut conn)?.ok_or_else(|| {
                    CliError::Invalid {
                        flag: "--owner",
                        message: InvalidInput::new(
                            "there is no superuser yet; create one with consentry user create.",
                        ),
                    }
                })?,
            };
            let created = registrar::create(
                &mut conn,
                &spec,
                owner.id,
                &Actor::new(format!("cli:{}", owner.login)),
            )?;
            let secret = created.secret.as_ref().map(|s| s.expose().to_string());
            if json {
                println!(
                    "{}",
                    json!({ "client_id": created.client_id.as_str(), "client_secret": secret })
                );
            } else {
                println!("client_id:     {}", created.client_id);
                match secret {
                    Some(secret) => println!(
                        "client_secret: {secret}\n(the secret is shown only this once; store it now)"
                    ),
                    None => println!("(public client: no secret; it must use PKCE)"),
                }
            }
        }
        ClientCommand::List { json } => {
            let mut conn = prepared_connection()?;
            let clients = db::models::clients::list(&mut conn, i64::MAX, 0)?;
            if json {
                println!(
                    "{}",
                    serde_json::Value::Array(clients.iter().map(client_json).collect())
                );
            } else {
                println!(
                    "{:<32}  {:<7} {:<12} {:<24} NAME",
                    "CLIENT ID", "STATUS", "TYPE", "GRANTS"
                );
                for c in clients {
                    println!(
                        "{:<32}  {:<7} {:<12} {:<24} {}",
                        c.client_id,
                        c.status,
                        c.client_type,
                        c.grant_types.replace(' ', ","),
                        c.name
                    );
                }
            }
        }
        ClientCommand::Show { client_id, json } => {
            let mut conn = prepared_connection()?;
            let c = find_client(&mut conn, &client_id)?;
            if json {
                println!("{}", client_json(&c));
            } else {
                let v = client_json(&c);
                for (k, val) in v.as_object().into_iter().flatten() {
                    println!("{k:<14} {val}");
                }
            }
        }
        ClientCommand::Pause { client_id } => {
            let mut conn = prepared_connection()?;
            registrar::set_status(
                &mut conn,
                &client_id,
                ClientStatus::Paused,
                &Actor::new("cli"),
            )?;
            println!("client {client_id} paused");
        }
        ClientCommand::Resume { client_id } => {
            let mut conn = prepared_connection()?;
            registrar::set_status(
                &mut conn,
                &client_id,
                ClientStatus::Active,
                &Actor::new("cli"),
            )?;
            println!("client {client_id} resumed");
        }
        ClientCommand::Delete { client_id } => {
            let mut conn = prepared_connection()?;
            registrar::delete(&mut conn, &client_id, &Actor::new("cli"))?;
            println!("client {client_id} deleted");
        }
    }
    Ok(())
}
