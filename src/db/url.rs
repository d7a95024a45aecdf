//! The database URL: a MySQL URL split into the server part and the database name.

use std::fmt;

use url::Url;

/// A MySQL URL split into the server part and the database name, so the database can be
/// created before the application connects to it.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: Url,
    name: String,
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("<redacted>"));
        }
        write!(f, "DatabaseUrl({shown})")
    }
}

/// Why a database URL is unusable, and how to write one.
#[derive(Debug, thiserror::Error)]
#[error("{problem}; fix: {fix}")]
pub struct InvalidDatabaseUrl {
    pub problem: String,
    pub fix: &'static str,
}

fn invalid(problem: impl Into<String>) -> InvalidDatabaseUrl {
    InvalidDatabaseUrl {
        problem: problem.into(),
        fix: "use the form mysql://user:password@host:3306/consentry",
    }
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, InvalidDatabaseUrl> {
        let url = Url::parse(raw).map_err(|e| invalid(format!("cannot parse it ({e})")))?;
        if url.scheme() != "mysql" {
            return Err(invalid("the scheme must be mysql://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it names no host"));
        }
        let name = url.path().trim_start_matches('/').to_string();
        if name.is_empty()
            || name.len() > 64
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(invalid(
                "the database name must be 1 to 64 letters, digits or underscores",
            ));
        }
        Ok(Self { url, name })
    }

    /// The same server with another database name (used by tests and `create database`).
    pub fn with_database(&self, name: &str) -> Result<Self, InvalidDatabaseUrl> {
        let mut url = self.url.clone();
        url.set_path(&format!("/{name}"));
        Self::parse(url.as_str())
    }

    pub fn database_name(&self) -> &str {
        &self.name
    }

    /// The URL including the database, for the application pool.
    pub fn full(&self) -> &str {
        self.url.as_str()
    }

    /// The URL without a database, to create or drop one.
    pub fn server_only(&self) -> String {
        let mut url = self.url.clone();
        url.set_path("");
        url.as_str().trim_end_matches('/').to_string()
    }

    /// `host:port` for messages; never includes credentials.
    pub fn address(&self) -> String {
        format!(
            "{}:{}",
            self.url.host_str().unwrap_or("?"),
            self.url.port().unwrap_or(3306)
        )
    }
}
