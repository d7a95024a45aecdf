//! Typed settings read from the environment (and an optional `.env`), validated once at
//! start-up so that a bad value ends the process with a one-line message naming the fix.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use url::Url;

use crate::domain::{Email, InvalidInput, Login, Password};

pub use crate::db::DatabaseUrl;

/// Introspection requests per client and second on one server, unless configured: a
/// resource server checks a token per API call, so it is generous; it bounds, not meters.
pub const DEFAULT_INTROSPECTION_RATE: u32 = 5000;

/// Every variable the binary reads, for `consentry --help` (and checked against this file
/// by a test): name, default, meaning.
pub const ENVIRONMENT: &[(&str, &str, &str)] = &[
    (
        "DATABASE_URL",
        "mysql://root@127.0.0.1:3306/consentry",
        "the database (created if missing by serve and migrate)",
    ),
    (
        "CONSENTRY_DATABASE_URLS",
        "DATABASE_URL alone",
        "the database nodes of a cluster, comma-separated, this server's own first",
    ),
    (
        "CONSENTRY_BIND",
        "127.0.0.1:8080",
        "the address and port the console and endpoints listen on",
    ),
    (
        "CONSENTRY_PUBLIC_URL",
        "http://127.0.0.1:8080",
        "the URL people and clients use (the issuer)",
    ),
    (
        "CONSENTRY_METRICS_BIND",
        "off",
        "the address of the Prometheus /metrics listener",
    ),
    (
        "CONSENTRY_SESSION_KEY",
        "generated into the data directory",
        "64+ random bytes, base64: signs and encrypts console sessions",
    ),
    (
        "CONSENTRY_DATA_DIR",
        "data",
        "where the session key and the first superuser's password file live",
    ),
    (
        "CONSENTRY_TRUSTED_PROXIES",
        "none",
        "proxies (addresses, CIDR ranges) whose Forwarded/X-Forwarded-For are believed",
    ),
    (
        "CONSENTRY_DB_TIMEOUT",
        "5",
        "seconds any database wait may take before a 503",
    ),
    (
        "CONSENTRY_DB_POOL_SIZE",
        "10",
        "database connections per server",
    ),
    (
        "CONSENTRY_HASH_CONCURRENCY",
        "the number of cores",
        "password checks that may run at once",
    ),
    (
        "CONSENTRY_INTROSPECTION_RATE",
        "5000",
        "introspections per client and second before 429",
    ),
    (
        "CONSENTRY_CHANGE_POLL_MS",
        "250",
        "how often the change log is read (50 to 900)",
    ),
    (
        "CONSENTRY_MEMORY_TRUST_SECS",
        "30",
        "how long memory answers while the change log cannot be read",
    ),
    (
        "CONSENTRY_GALERA_SYNC_WAIT",
        "1",
        "wsrep_sync_wait on a Galera node",
    ),
    (
        "CONSENTRY_SESSION_IDLE",
        "1800",
        "seconds of inactivity that end a console session",
    ),
    (
        "CONSENTRY_SESSION_ABSOLUTE",
        "43200",
        "seconds after sign-in that end a console session",
    ),
    (
        "CONSENTRY_ADMIN_LOGIN",
        "admin",
        "the first superuser's login (created when there is none)",
    ),
    (
        "CONSENTRY_ADMIN_EMAIL",
        "admin@example.com",
        "the first superuser's e-mail",
    ),
    (
        "CONSENTRY_ADMIN_PASSWORD",
        "generated into $CONSENTRY_DATA_DIR/initial-admin-password",
        "the first superuser's password",
    ),
    ("CONSENTRY_LOG_FORMAT", "text", "text or json"),
    (
        "RUST_LOG",
        "info (serve), warn (other commands)",
        "the log filter",
    ),
];

/// The environment section of `consentry --help`, from [`ENVIRONMENT`].
pub fn environment_help() -> String {
    let mut text =
        String::from("Environment (a .env file in the working directory is read too):\n");
    for (name, default, meaning) in ENVIRONMENT {
        text.push_str(&format!("  {name}\n      {meaning} [default: {default}]\n"));
    }
    text
}

/// Minimum length of the session key: actix-session derives signing and encryption keys from it.
pub const SESSION_KEY_MIN_BYTES: usize = 64;

/// A configuration problem: which variable, what is wrong, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}; fix: {fix}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
    pub fix: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Bytes that must never reach a log or a page; `Debug` prints a placeholder.
#[derive(Clone)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

/// Where the session key came from, so start-up can warn once when it was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    StoredFile,
    Generated,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Full URL of the application database (`mysql://user:pass@host:port/name`).
    pub database_url: DatabaseUrl,
    /// The database nodes to use, in order of preference (`CONSENTRY_DATABASE_URLS`,
    /// comma-separated; by default `DATABASE_URL` alone).
    pub database_urls: Vec<DatabaseUrl>,
    pub bind: SocketAddr,
    /// Public origin of the console and issuer, without a trailing slash.
    pub public_url: Url,
    pub session_key: SecretBytes,
    pub session_key_source: KeySource,
    pub data_dir: PathBuf,
    /// How long a request waits for a database connection before answering 503.
    pub db_timeout: Duration,
    pub db_pool_size: u32,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Password hashes (19 MiB each) that may run at once; the rest wait briefly, then 503.
    pub hash_concurrency: usize,
    /// Introspection requests per client and second on this server; more get 429.
    pub introspection_rate: u32,
    /// Who `serve` creates when the database has no superuser yet.
    pub first_superuser: FirstSuperuser,
    /// How often the change log is read (`CONSENTRY_CHANGE_POLL_MS`): a change made through
    /// another server is in force here within this (plus a query).
    pub change_poll: Duration,
    /// How long the in-memory state answers while the change log cannot be read
    /// (`CONSENTRY_MEMORY_TRUST_SECS`, default 30): past that, requests that need the
    /// database answer 503.
    pub memory_trust: Duration,
    /// `wsrep_sync_wait` on a Galera node (`CONSENTRY_GALERA_SYNC_WAIT`, default 1: every
    /// read sees every write committed anywhere in the cluster before it).
    pub galera_sync_wait: u8,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed
    /// (`CONSENTRY_TRUSTED_PROXIES`: addresses and CIDR ranges; none by default).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where Prometheus scrapes `/metrics` (`CONSENTRY_METRICS_BIND`; off when unset), a
    /// listener apart from the public one so that only the monitoring network reaches it.
    pub metrics_bind: Option<SocketAddr>,
}

/// The first superuser, from `CONSENTRY_ADMIN_LOGIN`, `CONSENTRY_ADMIN_EMAIL` and
/// `CONSENTRY_ADMIN_PASSWORD` (none: one is generated and shown once).
#[derive(Debug, Clone)]
pub struct FirstSuperuser {
    pub login: Login,
    pub email: Email,
    pub password: Option<Password>,
}

impl FirstSuperuser {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let refused = |var: &'static str| {
            move |e: InvalidInput| ConfigError::new(var, e.0, "set it to a valid value or unset it")
        };
        Ok(Self {
            login: Login::parse(&get("CONSENTRY_ADMIN_LOGIN").unwrap_or_else(|| "admin".into()))
                .map_err(refused("CONSENTRY_ADMIN_LOGIN"))?,
            email: Email::parse(
                &get("CONSENTRY_ADMIN_EMAIL").unwrap_or_else(|| "admin@example.com".into()),
            )
            .map_err(refused("CONSENTRY_ADMIN_EMAIL"))?,
            password: get("CONSENTRY_ADMIN_PASSWORD")
                .map(|p| Password::parse(&p))
                .transpose()
                .map_err(refused("CONSENTRY_ADMIN_PASSWORD"))?,
        })
    }
}

impl Config {
    /// Reads every setting from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads settings through `get`, so tests can supply their own values.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let database_url = DatabaseUrl::parse(
            &get("DATABASE_URL").unwrap_or_else(|| "mysql://root@127.0.0.1:3306/consentry".into()),
        )
        .map_err(|e| ConfigError::new("DATABASE_URL", e.problem, e.fix))?;
        let database_urls = match get("CONSENTRY_DATABASE_URLS") {
            None => vec![database_url.clone()],
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| {
                    DatabaseUrl::parse(u)
                        .map_err(|e| ConfigError::new("CONSENTRY_DATABASE_URLS", e.problem, e.fix))
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        if database_urls.is_empty() || database_urls.len() > 16 {
            return Err(ConfigError::new(
                "CONSENTRY_DATABASE_URLS",
                "it must list 1 to 16 URLs",
                "separate the database nodes' URLs with commas, this server's own node first",
            ));
        }
        let bind = socket_address(
            "CONSENTRY_BIND",
            &get("CONSENTRY_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
        )?;
        let metrics_bind = get("CONSENTRY_METRICS_BIND")
            .filter(|raw| !raw.is_empty())
            .map(|raw| socket_address("CONSENTRY_METRICS_BIND", &raw))
            .transpose()?;
        if metrics_bind == Some(bind) {
            return Err(ConfigError::new(
                "CONSENTRY_METRICS_BIND",
                "it is the same address as CONSENTRY_BIND",
                "give the metrics a port of their own, e.g. 127.0.0.1:9464",
            ));
        }
        let public_url = parse_public_url(
            &get("CONSENTRY_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
        )?;
        let data_dir = data_dir(get("CONSENTRY_DATA_DIR"));
        let (session_key, session_key_source) = match get("CONSENTRY_SESSION_KEY") {
            Some(raw) => (decode_session_key(&raw)?, KeySource::Environment),
            None => load_or_create_session_key(&data_dir)?,
        };
        let seconds = |var: &'static str, default: u64, min: u64, max: u64| {
            parse_bounded(var, get(var), default, min, max).map(Duration::from_secs)
        };
        Ok(Self {
            database_url,
            database_urls,
            bind,
            metrics_bind,
            public_url,
            session_key,
            session_key_source,
            data_dir,
            db_timeout: seconds("CONSENTRY_DB_TIMEOUT", 5, 1, 60)?,
            db_pool_size: parse_bounded(
                "CONSENTRY_DB_POOL_SIZE",
                get("CONSENTRY_DB_POOL_SIZE"),
                10,
                1,
                200,
            )? as u32,
            session_idle: seconds("CONSENTRY_SESSION_IDLE", 30 * 60, 60, 24 * 3600)?,
            session_absolute: seconds("CONSENTRY_SESSION_ABSOLUTE", 12 * 3600, 300, 7 * 24 * 3600)?,
            hash_concurrency: parse_bounded(
                "CONSENTRY_HASH_CONCURRENCY",
                get("CONSENTRY_HASH_CONCURRENCY"),
                std::thread::available_parallelism().map_or(2, |n| n.get() as u64),
                1,
                64,
            )? as usize,
            introspection_rate: parse_bounded(
                "CONSENTRY_INTROSPECTION_RATE",
                get("CONSENTRY_INTROSPECTION_RATE"),
                u64::from(DEFAULT_INTROSPECTION_RATE),
                1,
                1_000_000,
            )? as u32,
            first_superuser: FirstSuperuser::from_lookup(&get)?,
            change_poll: Duration::from_millis(parse_bounded(
                "CONSENTRY_CHANGE_POLL_MS",
                get("CONSENTRY_CHANGE_POLL_MS"),
                250,
                50,
                900,
            )?),
            memory_trust: seconds("CONSENTRY_MEMORY_TRUST_SECS", 30, 1, 300)?,
            trusted_proxies: trusted_proxies(get("CONSENTRY_TRUSTED_PROXIES"))?,
            galera_sync_wait: parse_bounded(
                "CONSENTRY_GALERA_SYNC_WAIT",
                get("CONSENTRY_GALERA_SYNC_WAIT"),
                1,
                0,
                15,
            )? as u8,
        })
    }

    /// Whether cookies must be marked `Secure` (the console is served over https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public origin (`scheme://host[:port]`) that browsers send in `Origin`.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// The public URL without a trailing slash, for building absolute links.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_string()
    }
}

fn parse_public_url(raw: &str) -> Result<Url, ConfigError> {
    let fix = "use an absolute http(s) URL such as https://consentry.example.com";
    let url = Url::parse(raw).map_err(|e| {
        ConfigError::new(
            "CONSENTRY_PUBLIC_URL",
            format!("cannot parse '{raw}' ({e})"),
            fix,
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            "CONSENTRY_PUBLIC_URL",
            "it must be an http or https URL",
            fix,
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ConfigError::new(
            "CONSENTRY_PUBLIC_URL",
            "it must not carry a query, fragment or user name (it becomes the issuer)",
            fix,
        ));
    }
    Ok(url)
}

fn parse_bounded(
    var: &'static str,
    raw: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            var,
            format!("'{raw}' is not a whole number from {min} to {max}"),
            format!("set it within that range or unset it for the default {default}"),
        )),
    }
}

fn decode_session_key(raw: &str) -> Result<SecretBytes, ConfigError> {
    let fix = "generate one with: head -c 64 /dev/urandom | base64 -w0";
    let bytes = B64
        .decode(raw.trim())
        .map_err(|_| ConfigError::new("CONSENTRY_SESSION_KEY", "it is not valid base64", fix))?;
    if bytes.len() < SESSION_KEY_MIN_BYTES {
        return Err(ConfigError::new(
            "CONSENTRY_SESSION_KEY",
            format!(
                "it decodes to {} bytes, at least {SESSION_KEY_MIN_BYTES} are needed",
                bytes.len()
            ),
            fix,
        ));
    }
    Ok(SecretBytes(bytes))
}

/// Reuses the key stored under the data directory, or creates it (mode 0600) so that
/// sessions survive restarts even when no key is configured.
fn load_or_create_session_key(data_dir: &Path) -> Result<(SecretBytes, KeySource), ConfigError> {
    let path = data_dir.join("session.key");
    let fix = format!(
        "make {} writable, or set CONSENTRY_SESSION_KEY (head -c 64 /dev/urandom | base64 -w0)",
        data_dir.display()
    );
    match std::fs::read_to_string(&path) {
        Ok(stored) => {
            let key = decode_session_key(&stored).map_err(|e| {
                ConfigError::new(
                    "CONSENTRY_SESSION_KEY",
                    format!("{} is corrupt ({})", path.display(), e.problem),
                    format!("delete it to generate a new one, or {fix}"),
                )
            })?;
            Ok((key, KeySource::StoredFile))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = vec![0u8; SESSION_KEY_MIN_BYTES];
            rand::rng().fill_bytes(&mut bytes);
            write_private_file(data_dir, &path, B64.encode(&bytes).as_bytes()).map_err(|e| {
                ConfigError::new(
                    "CONSENTRY_SESSION_KEY",
                    format!("cannot store a generated key in {} ({e})", path.display()),
                    fix.clone(),
                )
            })?;
            Ok((SecretBytes(bytes), KeySource::Generated))
        }
        Err(e) => Err(ConfigError::new(
            "CONSENTRY_SESSION_KEY",
            format!("cannot read {} ({e})", path.display()),
            fix,
        )),
    }
}

/// `CONSENTRY_DATA_DIR`, `data` when unset.
fn data_dir(raw: Option<String>) -> PathBuf {
    PathBuf::from(raw.unwrap_or_else(|| "data".into()))
}

/// The data directory alone, for a command that needs nothing else of the configuration
/// once its work is committed (and must not fail on the rest).
pub fn data_dir_from_env() -> PathBuf {
    data_dir(std::env::var("CONSENTRY_DATA_DIR").ok())
}

fn socket_address(variable: &'static str, raw: &str) -> Result<SocketAddr, ConfigError> {
    raw.parse().map_err(|_| {
        ConfigError::new(
            variable,
            format!("'{raw}' is not an address and port"),
            "use the form 127.0.0.1:8080",
        )
    })
}

/// Creates `path` (which must not exist) readable by this user only, creating `dir` first.
pub(crate) fn write_private_file(dir: &Path, path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// `CONSENTRY_TRUSTED_PROXIES`: addresses (one host each) and CIDR ranges, separated by
/// commas or spaces.
fn trusted_proxies(raw: Option<String>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split([',', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        "CONSENTRY_TRUSTED_PROXIES",
                        format!("{p:?} is neither an IP address nor a CIDR range"),
                        "list the proxies' addresses or ranges, e.g. 127.0.0.1, 10.0.0.0/8",
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("consentry-cfg-{}", rand::random::<u64>()));
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("CONSENTRY_DATA_DIR".into())
            .or_insert(dir.display().to_string());
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = config(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_base(), "http://127.0.0.1:8080");
        assert_eq!(c.database_url.database_name(), "consentry");
        assert_eq!(c.database_url.server_only(), "mysql://root@127.0.0.1:3306");
        assert_eq!(c.session_idle, Duration::from_secs(1800));
        assert!(!c.secure_cookies());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("DATABASE_URL", "postgres://x/y"),
            ("DATABASE_URL", "not a url"),
            ("DATABASE_URL", "mysql://root@localhost/"),
            ("CONSENTRY_BIND", "localhost"),
            ("CONSENTRY_PUBLIC_URL", "ftp://x"),
            ("CONSENTRY_PUBLIC_URL", "https://x/?a=b"),
            ("CONSENTRY_SESSION_KEY", "c2hvcnQ="),
            ("CONSENTRY_SESSION_KEY", "***"),
            ("CONSENTRY_DB_TIMEOUT", "0"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{value}");
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn generated_session_key_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("consentry-key-{}", rand::random::<u64>()));
        let d = dir.display().to_string();
        let first = config(&[("CONSENTRY_DATA_DIR", &d)]).unwrap();
        assert_eq!(first.session_key_source, KeySource::Generated);
        let mode = std::fs::metadata(dir.join("session.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = config(&[("CONSENTRY_DATA_DIR", &d)]).unwrap();
        assert_eq!(second.session_key_source, KeySource::StoredFile);
        assert_eq!(first.session_key.expose(), second.session_key.expose());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn database_password_is_not_printed() {
        let url = DatabaseUrl::parse("mysql://u:hunter2@db:3307/app").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.address(), "db:3307");
    }

    #[test]
    fn every_variable_read_is_listed_in_the_help() {
        let sources = [include_str!("config.rs"), include_str!("telemetry/mod.rs")];
        for source in sources {
            for (start, _) in source.match_indices("\"CONSENTRY_") {
                let name: String = source[start + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                assert!(
                    name.len() <= "CONSENTRY_".len()
                        || ENVIRONMENT.iter().any(|(listed, _, _)| *listed == name),
                    "{name} is read but not listed in ENVIRONMENT"
                );
            }
        }
    }
}
