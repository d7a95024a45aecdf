//! Access-token signing keys: RSA 2048 (RS256), P-256 (ES256) or Ed25519 (EdDSA), as the
//! General settings choose; generated on first start, kept in the database so every
//! instance signs with the same key, and published at the JWKS endpoint by `kid`.
//! `consentry keys rotate` adds a key that is published at once but signs only after a
//! delay (an hour by default), so every verifier's cached JWKS has it before the first
//! token it signs; the old key signs until then and stays published until every token it
//! signed has expired. Each server reloads its copy at most every minute, at once when the
//! keys change on any server (the change log), and when it meets a `kid` it does not know.
//!
//! Each private key is parsed once, when loaded: `jsonwebtoken` would parse and check the
//! RSA key again for every signature, which cost more than the signature itself (about
//! 0.5 ms against 0.2 ms here), so tokens are signed here with aws-lc and verified by
//! `jsonwebtoken`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::NaiveDateTime;
use diesel::MysqlConnection;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};

use crate::db::models::{self, signing_keys};
use crate::db::{Connect, DbError};
use crate::domain::SigningAlg;
use crate::oauth::error::OAuthError;

/// The longest access-token lifetime the settings allow. A retired key stays published this
/// long (plus the reload interval), so tokens it signed keep verifying until they expire.
pub const MAX_ACCESS_TOKEN_LIFETIME_SECS: i64 = 86_400;

const RELOAD_EVERY: Duration = Duration::from_secs(60);
const MIN_RELOAD_GAP: Duration = Duration::from_secs(1);

/// The JWS algorithm `jsonwebtoken` verifies a key's tokens with.
pub fn jws_algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Rs256 => Algorithm::RS256,
        SigningAlg::Es256 => Algorithm::ES256,
        SigningAlg::EdDsa => Algorithm::EdDSA,
    }
}

/// A private key, parsed once.
enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub struct LoadedKey {
    pub kid: String,
    pub alg: SigningAlg,
    pair: Pair,
    pub decoding: DecodingKey,
    pub jwk: Value,
}

fn internal(what: &str) -> impl FnOnce(String) -> OAuthError + '_ {
    move |e| OAuthError::Internal(format!("{what}: {e}"))
}

impl LoadedKey {
    /// A key from its PKCS#8 private part.
    pub fn from_pkcs8(kid: &str, alg: SigningAlg, pkcs8_der: &[u8]) -> Result<Self, OAuthError> {
        let bad = internal("signing key");
        let (pair, public) = match alg {
            SigningAlg::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8_der).map_err(|e| bad(e.to_string()))?;
                let parts = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let (n, e) = (B64.encode(&parts.n), B64.encode(&parts.e));
                let decoding = DecodingKey::from_rsa_components(&n, &e);
                (
                    Pair::Rsa(pair),
                    (json!({ "kty": "RSA", "n": n, "e": e }), decoding),
                )
            }
            SigningAlg::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
                    .map_err(|e| bad(e.to_string()))?;
                // An uncompressed point: 0x04, then x and y, 32 bytes each.
                let point = pair.public_key().as_ref();
                let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
                let decoding = DecodingKey::from_ec_components(&x, &y);
                let jwk = json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
                (Pair::Ec(pair), (jwk, decoding))
            }
            SigningAlg::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8_der).map_err(|e| bad(e.to_string()))?;
                let x = B64.encode(pair.public_key().as_ref());
                let decoding = DecodingKey::from_ed_components(&x);
                (
                    Pair::Ed(pair),
                    (json!({ "kty": "OKP", "crv": "Ed25519", "x": x }), decoding),
                )
            }
        };
        let (mut jwk, decoding) = public;
        let decoding =
            decoding.map_err(|e| OAuthError::Internal(format!("signing key {kid}: {e}")))?;
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(alg.as_str());
        jwk["kid"] = json!(kid);
        Ok(Self {
            kid: kid.to_string(),
            alg,
            pair,
            decoding,
            jwk,
        })
    }

    /// A new key of `alg`, in memory only.
    pub fn generate(kid: &str, alg: SigningAlg) -> Result<Self, OAuthError> {
        Self::from_pkcs8(kid, alg, &new_key_material(alg)?)
    }

    /// The JWS signature of `message` (RFC 7515 §5.1).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, OAuthError> {
        let failed = |_| OAuthError::Internal(format!("signing with key {} failed", self.kid));
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                Ok(signature)
            }
            Pair::Ec(pair) => Ok(pair
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// A new private key of `alg`, PKCS#8 DER.
fn new_key_material(alg: SigningAlg) -> Result<Vec<u8>, OAuthError> {
    let failed = |_| OAuthError::Internal(format!("{alg} key generation failed"));
    Ok(match alg {
        SigningAlg::Rs256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let der: Pkcs8V1Der = pair.as_der().map_err(failed)?;
            der.as_ref().to_vec()
        }
        SigningAlg::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(failed)?
                .as_ref()
                .to_vec()
        }
        SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
    })
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
    /// Held by the one request that reloads for the others (parsing every key costs
    /// milliseconds; a crowd doing it at once stalled issuance).
    reloading: Mutex<()>,
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
            reloading: Mutex::new(()),
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
            let alg = SigningAlg::parse(&row.alg)
                .map_err(|e| OAuthError::Internal(format!("signing key {}: {e}", row.kid)))?;
            let key = Arc::new(LoadedKey::from_pkcs8(&row.kid, alg, &row.private_der)?);
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

    /// The key to sign with, reloading first when the keys changed on any server
    /// (`generation`, from the change log) or the copy is older than a minute.
    pub fn signing_key(
        &self,
        db: &mut impl Connect,
        generation: u64,
    ) -> Result<Arc<LoadedKey>, OAuthError> {
        self.refresh(db, generation)?;
        self.current()
            .signing_at(models::now())
            .ok_or_else(|| OAuthError::Internal("no signing key".into()))
    }

    /// Reloads when the keys changed on any server (`generation`, from the change log) or
    /// the copy is a minute old, one request at a time for everyone. A copy that is only
    /// old is still used while another request reloads it; a copy behind a change waits
    /// for that reload, off the async worker, and reloads only if still behind after it.
    fn refresh(&self, db: &mut impl Connect, generation: u64) -> Result<(), OAuthError> {
        let never_loaded = self
            .loaded_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none();
        let behind = never_loaded || self.current().generation != generation;
        if !behind && self.loaded_within(RELOAD_EVERY) {
            return Ok(());
        }
        let _reloading = match self.reloading.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if !behind => return Ok(()),
            Err(std::sync::TryLockError::WouldBlock) => {
                db.slow_work()?;
                self.reloading.lock().unwrap_or_else(|p| p.into_inner())
            }
        };
        let current = self.current().generation == generation && self.loaded_within(RELOAD_EVERY);
        if !current {
            self.reload_at(db.connection()?, generation)?;
        }
        Ok(())
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
        self.refresh(db, generation)?;
        Ok(self.current().jwks_body.clone())
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

/// How long a rotated-in key is published before it signs, unless activated at once.
pub const ACTIVATION_DELAY: chrono::Duration = chrono::Duration::hours(1);

/// Generates a new signing key of the algorithm the settings choose, published now and
/// signing from `active_from`, when the others retire (still published for a day after, so
/// the tokens they signed keep verifying). Returns the new `kid`.
pub fn generate(
    conn: &mut MysqlConnection,
    active_from: NaiveDateTime,
) -> Result<String, OAuthError> {
    let alg = crate::oauth::settings::Settings::load(conn)?.signing_alg;
    let der = new_key_material(alg)?;
    // The RSA public parts are kept in their columns too, for anyone reading the table.
    let key = LoadedKey::from_pkcs8("new", alg, &der)?;
    let part = |name: &str| key.jwk[name].as_str().unwrap_or_default().to_string();
    let (n, e) = (part("n"), part("e"));
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
                alg: alg.as_str(),
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
