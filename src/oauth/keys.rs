//! Access-token signing keys: RSA 2048, generated on first start, kept in the database so
//! every instance signs with the same key, and published at the JWKS endpoint by `kid`.
//! `consentry keys rotate` adds a key that is published at once but signs only after a
//! delay (an hour by default), so every verifier's cached JWKS has it before the first
//! token it signs; the old key signs until then and stays published until every token it
//! signed has expired. Each server reloads its copy at most every minute, and at once when
//! it meets a `kid` it does not know.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use chrono::NaiveDateTime;
use diesel::MysqlConnection;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};

use crate::db::models::{self, signing_keys};
use crate::db::{Connect, DbError};
use crate::oauth::error::OAuthError;

pub const ALGORITHM: Algorithm = Algorithm::RS256;

/// The longest access-token lifetime the settings allow. A retired key stays published this
/// long (plus the reload interval), so tokens it signed keep verifying until they expire.
pub const MAX_ACCESS_TOKEN_LIFETIME_SECS: i64 = 86_400;

const RELOAD_EVERY: Duration = Duration::from_secs(60);
const MIN_RELOAD_GAP: Duration = Duration::from_secs(1);

pub struct LoadedKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: Value,
}

impl LoadedKey {
    /// A key from its PKCS#8 private part and public modulus and exponent (base64url).
    pub fn from_parts(kid: &str, pkcs8_der: &[u8], n: &str, e: &str) -> Result<Self, OAuthError> {
        Ok(Self {
            encoding: encoding_key(pkcs8_der)?,
            decoding: DecodingKey::from_rsa_components(n, e)
                .map_err(|err| OAuthError::Internal(format!("signing key {kid}: {err}")))?,
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256",
                "kid": kid, "n": n, "e": e,
            }),
            kid: kid.to_string(),
        })
    }

    /// A new RSA-2048 key, in memory only.
    pub fn generate(kid: &str) -> Result<Self, OAuthError> {
        let (der, n, e) = new_key_material()?;
        Self::from_parts(kid, &der, &n, &e)
    }
}

/// A new RSA-2048 key pair: PKCS#8 DER, and the public modulus and exponent (base64url).
fn new_key_material() -> Result<(Vec<u8>, String, String), OAuthError> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| OAuthError::Internal("RSA key generation failed".into()))?;
    let der: Pkcs8V1Der = pair
        .as_der()
        .map_err(|_| OAuthError::Internal("RSA key encoding failed".into()))?;
    let der = der.as_ref().to_vec();
    let encoding = encoding_key(&der)?;
    let jwk = Jwk::from_encoding_key(&encoding, ALGORITHM)
        .map_err(|e| OAuthError::Internal(format!("public key: {e}")))?;
    let AlgorithmParameters::RSA(rsa) = jwk.algorithm else {
        return Err(OAuthError::Internal("public key is not RSA".into()));
    };
    Ok((der, rsa.n, rsa.e))
}

#[derive(Default)]
struct Snapshot {
    /// The change-log generation it was loaded at (`Live::generation`).
    generation: u64,
    /// The JWKS document, serialised once per load.
    jwks_body: bytes::Bytes,
    /// Newest first, with the times each signs between (chosen at signing time, so a
    /// scheduled activation happens on the minute without waiting for a reload).
    signers: Vec<(Arc<LoadedKey>, signing_keys::SigningWindow)>,
    by_kid: HashMap<String, Arc<LoadedKey>>,
    jwks: Vec<Value>,
}

impl Snapshot {
    fn signing_at(&self, now: NaiveDateTime) -> Option<Arc<LoadedKey>> {
        self.signers
            .iter()
            .find(|(_, window)| window.contains(now))
            .map(|(key, _)| key.clone())
    }
}

/// The server's in-memory copy of the published keys.
pub struct KeyRing {
    snapshot: RwLock<Arc<Snapshot>>,
    loaded_at: Mutex<Option<Instant>>,
}

impl Default for KeyRing {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyRing {
    pub fn new() -> Self {
        Self {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            loaded_at: Mutex::new(None),
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Reads the published keys from the database, creating the first one if there is none.
    pub fn reload(&self, conn: &mut MysqlConnection) -> Result<(), OAuthError> {
        self.reload_at(conn, self.current().generation)
    }

    fn reload_at(&self, conn: &mut MysqlConnection, generation: u64) -> Result<(), OAuthError> {
        let rows = ensure_signing_key(conn)?;
        let mut snapshot = Snapshot {
            generation,
            ..Snapshot::default()
        };
        for row in rows {
            let key = Arc::new(LoadedKey::from_parts(
                &row.kid,
                &row.private_der,
                &row.n,
                &row.e,
            )?);
            snapshot.jwks.push(key.jwk.clone());
            snapshot.by_kid.insert(row.kid.clone(), key.clone());
            // Rows come newest first: the newest key active now signs.
            snapshot.signers.push((key, row.signing_window()));
        }
        snapshot.jwks_body = json!({ "keys": snapshot.jwks }).to_string().into();
        *self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(snapshot);
        *self.loaded_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Ok(())
    }

    fn loaded_within(&self, window: Duration) -> bool {
        self.loaded_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < window)
    }

    /// The key to sign with, reloading first when the copy is older than a minute.
    pub fn signing_key(&self, db: &mut impl Connect) -> Result<Arc<LoadedKey>, OAuthError> {
        if !self.loaded_within(RELOAD_EVERY) {
            self.reload(db.connection()?)?;
        }
        self.current()
            .signing_at(models::now())
            .ok_or_else(|| OAuthError::Internal("no signing key".into()))
    }

    /// The key with `kid`, reloading (at most once a second) when it is unknown.
    pub fn verifying_key(
        &self,
        db: &mut impl Connect,
        kid: &str,
    ) -> Result<Option<Arc<LoadedKey>>, OAuthError> {
        if let Some(key) = self.current().by_kid.get(kid) {
            return Ok(Some(key.clone()));
        }
        if !self.loaded_within(MIN_RELOAD_GAP) {
            self.reload(db.connection()?)?;
        }
        Ok(self.current().by_kid.get(kid).cloned())
    }

    /// The JWKS document, serialised: every published key. Reloaded when the keys changed
    /// on any server (`generation`, from the change log) or the copy is a minute old.
    pub fn jwks(&self, db: &mut impl Connect, generation: u64) -> Result<bytes::Bytes, OAuthError> {
        let current = self.current();
        if current.generation != generation || !self.loaded_within(RELOAD_EVERY) {
            self.reload_at(db.connection()?, generation)?;
            return Ok(self.current().jwks_body.clone());
        }
        Ok(current.jwks_body.clone())
    }
}

/// Creates the first signing key when there is none (first start, or every key retired),
/// and returns the published keys, newest first.
pub fn ensure_signing_key(
    conn: &mut MysqlConnection,
) -> Result<Vec<signing_keys::SigningKeyRow>, OAuthError> {
    let now = models::now();
    let rows = signing_keys::published(conn, now)?;
    if rows.iter().any(|r| r.signs_at(now)) {
        return Ok(rows);
    }
    generate(conn, now)?;
    Ok(signing_keys::published(conn, models::now())?)
}

fn encoding_key(pkcs8_der: &[u8]) -> Result<EncodingKey, OAuthError> {
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8_der));
    EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| OAuthError::Internal(format!("signing key: {e}")))
}

/// How long a rotated-in key is published before it signs, unless activated at once.
pub const ACTIVATION_DELAY: chrono::Duration = chrono::Duration::hours(1);

/// Generates a new signing key, published now and signing from `active_from`, when the
/// others retire (still published for a day after). Returns the new `kid`.
pub fn generate(
    conn: &mut MysqlConnection,
    active_from: NaiveDateTime,
) -> Result<String, OAuthError> {
    let (der, n, e) = new_key_material()?;
    let kid = crate::auth::random_token(12);
    let now = models::now();
    crate::db::transaction(conn, |conn| {
        let id = signing_keys::insert(
            conn,
            &signing_keys::NewSigningKey {
                kid: &kid,
                private_der: &der,
                n: &n,
                e: &e,
                created_at: now,
                active_from: Some(active_from.max(now)),
            },
        )?;
        let switch = active_from.max(now);
        signing_keys::retire_older_than(conn, id, switch, retired_until(switch))?;
        Ok::<_, DbError>(())
    })?;
    Ok(kid)
}

fn retired_until(now: NaiveDateTime) -> NaiveDateTime {
    now + chrono::Duration::seconds(MAX_ACCESS_TOKEN_LIFETIME_SECS)
        + chrono::Duration::from_std(RELOAD_EVERY * 2).unwrap_or_default()
}

/// `consentry keys rotate`: a new key, published now and signing from `active_from`,
/// recorded in the audit log. Returns the new `kid`.
pub fn rotate(
    conn: &mut MysqlConnection,
    active_from: NaiveDateTime,
    actor: &crate::audit::Actor,
) -> Result<String, OAuthError> {
    let kid = generate(conn, active_from)?;
    crate::audit::record(
        conn,
        crate::audit::Event::by(actor, crate::audit::KEYS_ROTATED)
            .target("key", &kid)
            .details(json!({
                "signs_from": active_from.format("%Y-%m-%d %H:%M:%S").to_string()
            })),
    )?;
    Ok(kid)
}
