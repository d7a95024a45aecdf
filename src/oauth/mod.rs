//! OAuth 2.0 protocol logic, free of actix: what each endpoint decides, given a database
//! connection. `routes::oauth` turns requests into calls here and results into HTTP.

pub mod access;
pub mod authorize;
pub mod client_auth;
pub mod clients;
pub mod consents;
pub mod device;
pub mod documents;
pub mod error;
pub mod introspection;
pub mod issuer;
pub mod jwt;
pub mod keys;
pub mod live;
pub mod logout;
pub mod metadata;
pub mod oidc;
pub mod params;
pub mod pkce;
pub mod purge;
pub mod registration;
pub mod revocation;
pub mod scopes;
pub mod settings;
pub mod tokens;

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::db::DbError;

/// What every protocol call needs besides the connection: the keys and the server's name.
pub struct Protocol {
    pub keys: keys::KeyRing,
    /// What the hot paths read, in memory and kept fresh from the change log.
    pub live: std::sync::Arc<live::Live>,
    /// The metadata documents, serialised.
    pub documents: documents::Documents,
    /// The group-commit writer for client-credentials tokens, once the server starts one
    /// (without it, as in the command line and direct tests, each token commits alone).
    pub writer: OnceLock<issuer::Writer>,
    /// The `iss` of tokens and of authorization responses: the public base URL.
    pub issuer: String,
    /// The `aud` of access tokens: this server's API, at the same base URL.
    pub audience: String,
    secret_key: OnceLock<Vec<u8>>,
    /// Introspection requests per client and second, on this server.
    introspection: governor::DefaultKeyedRateLimiter<String>,
}

impl Protocol {
    /// RFC 8707: the one resource this server issues tokens for is its own API, named by its
    /// base URL (with or without a final slash). Tokens always carry it as `aud`.
    pub fn is_own_resource(&self, resource: &str) -> bool {
        resource == self.audience || resource.strip_suffix('/') == Some(self.audience.as_str())
    }

    /// Refuses a `resource` other than this server's API (RFC 8707 §2: `invalid_target`).
    pub fn check_resource(&self, params: &params::Params) -> Result<(), error::OAuthError> {
        // An empty value counts as absent, as for every other parameter.
        for resource in params.all("resource").into_iter().filter(|r| !r.is_empty()) {
            if !self.is_own_resource(resource) {
                return Err(error::OAuthError::new(
                    error::ErrorCode::InvalidTarget,
                    format!("resource must be this server's API, {}.", self.audience),
                ));
            }
        }
        Ok(())
    }

    pub fn new(public_base: String) -> Self {
        Self::with_introspection_rate(public_base, crate::config::DEFAULT_INTROSPECTION_RATE)
    }

    pub fn with_introspection_rate(public_base: String, per_second: u32) -> Self {
        let rate = std::num::NonZeroU32::new(per_second.max(1)).expect("at least 1");
        let live = std::sync::Arc::new(live::Live::new());
        let sink: std::sync::Arc<dyn crate::db::changes::Sink> = live.clone();
        crate::db::changes::subscribe(&sink);
        Self {
            keys: keys::KeyRing::new(),
            live,
            documents: documents::Documents::default(),
            writer: OnceLock::new(),
            audience: public_base.clone(),
            issuer: public_base,
            secret_key: OnceLock::new(),
            introspection: governor::RateLimiter::keyed(governor::Quota::per_second(rate)),
        }
    }

    /// Starts the group-commit writers (once), on connections of their own to `url`; a
    /// request waits at most `wait` for its commit.
    pub fn start_writer(
        &self,
        urls: &[crate::db::DatabaseUrl],
        wait: std::time::Duration,
    ) -> std::io::Result<()> {
        if self.writer.get().is_none() {
            let writer = issuer::Writer::start(urls, self.live.clone(), wait)?;
            let _ = self.writer.set(writer);
        }
        Ok(())
    }

    /// Charges one introspection to `client_id`; the seconds to wait when over the rate.
    pub fn introspection_allowed(&self, client_id: &str) -> Result<(), i64> {
        use governor::clock::{Clock, DefaultClock};
        self.introspection
            .check_key(&client_id.to_string())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                (wait.as_millis() as i64 + 999) / 1000
            })
            .map_err(|secs| secs.max(1))
    }

    /// The key that hashes client secrets, read from the database once.
    pub fn secret_key(&self, db: &mut impl crate::db::Connect) -> Result<&[u8], DbError> {
        if let Some(key) = self.secret_key.get() {
            return Ok(key);
        }
        let key = clients::secret_key(db.connection()?)?;
        Ok(self.secret_key.get_or_init(|| key))
    }
}

/// Codes and refresh tokens are random 256-bit values, so a plain SHA-256 is a safe way to
/// store them: nothing to brute-force, and no server key to lose.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A value from a request, safe to quote back in an error description.
pub fn printable(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).take(40).collect()
}
