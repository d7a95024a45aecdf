//! The second factor: codes from an authenticator app (RFC 6238: HMAC-SHA-1, six digits,
//! 30-second steps, one step of drift either way) and ten one-time recovery codes.
//!
//! The app's secret is stored encrypted (AES-256-GCM, the key derived with HKDF from a
//! server secret kept in the database, so every server shares it and a copy of the users
//! table alone reveals nothing); recovery codes only as SHA-256 hashes (they are random,
//! 80 bits each, so no slow hash is needed). A code's time step is claimed with one
//! conditional UPDATE, so a code cannot be used twice, not even by two requests at once.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use chrono::NaiveDateTime;
use diesel::MysqlConnection;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::audit::{self, Actor};
use crate::auth::throttle::{self, Bucket, Verdict};
use crate::db::models::users::UserRow;
use crate::db::{DbError, models};

/// The name authenticator apps show for the account.
pub const ISSUER: &str = "Consentry";
/// How many recovery codes a user gets.
pub const RECOVERY_CODES: usize = 10;
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// RFC 4226 §4 asks for at least 128 bits; 160 is what SHA-1 keys are.
const SECRET_BYTES: usize = 20;
/// The server secret the encryption key is derived from.
const KEY_NAME: &str = "second_factor";
const KEY_INFO: &[u8] = b"consentry second factor secrets v1";

/// A new authenticator secret, not yet confirmed by a code (kept in the user's session
/// until then).
pub struct PendingSecret(Vec<u8>);

impl PendingSecret {
    pub fn generate() -> Self {
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        Self(secret)
    }

    /// The secret as the user types it into an app (RFC 4648 base32).
    pub fn base32(&self) -> String {
        totp(&self.0, "").get_secret_base32()
    }

    pub fn from_base32(text: &str) -> Option<Self> {
        let bytes = totp_rs::Secret::Encoded(text.to_string()).to_bytes().ok()?;
        (bytes.len() == SECRET_BYTES).then_some(Self(bytes))
    }

    /// The `otpauth://` URL the enrolment QR code holds.
    pub fn otpauth_url(&self, login: &str) -> String {
        totp(&self.0, login).get_url()
    }
}

fn totp(secret: &[u8], login: &str) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        secret.to_vec(),
        Some(ISSUER.into()),
        login.into(),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The time step `code` belongs to, allowing one step of clock drift either way; `None`
/// when it matches none. Compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let generator = totp(secret, "");
    let current = now / STEP_SECS;
    (current.saturating_sub(1)..=current + 1).find_map(|step| {
        let expected = generator.generate(step * STEP_SECS);
        bool::from(expected.as_bytes().ct_eq(code.as_bytes())).then_some(step as i64)
    })
}

/// The key secrets are sealed with: HKDF-SHA-256 of the shared server secret.
fn sealing_key(conn: &mut MysqlConnection) -> Result<LessSafeKey, DbError> {
    let secret = models::server_secrets::get_or_create(conn, KEY_NAME, 32)?;
    let bad = |what: &str| DbError::Unavailable(format!("second-factor key: {what}"));
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&secret);
    let okm = prk
        .expand(&[KEY_INFO], &AES_256_GCM)
        .map_err(|_| bad("expand"))?;
    let mut key = [0u8; 32];
    okm.fill(&mut key).map_err(|_| bad("fill"))?;
    let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| bad("key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// `nonce || ciphertext || tag`, bound to the user it belongs to.
fn seal(key: &LessSafeKey, user_id: i64, secret: &[u8]) -> Result<Vec<u8>, DbError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let mut sealed = secret.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(user_id.to_be_bytes()),
        &mut sealed,
    )
    .map_err(|_| DbError::Unavailable("second-factor secret could not be sealed".into()))?;
    Ok([nonce.as_slice(), &sealed].concat())
}

fn open(key: &LessSafeKey, user_id: i64, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut body = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(user_id.to_be_bytes()), &mut body)
        .ok()?;
    Some(plain.to_vec())
}

/// Ten new recovery codes (`xxxx-xxxx-xxxx-xxxx`, base32) and their hashes.
fn recovery_codes() -> (Vec<String>, Vec<[u8; 32]>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut raw = [0u8; 10];
            rand::rng().fill_bytes(&mut raw);
            let text = base32_lower(&raw);
            text.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect();
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    (codes, hashes)
}

fn base32_lower(raw: &[u8]) -> String {
    totp_rs::Secret::Raw(raw.to_vec())
        .to_encoded()
        .to_string()
        .to_ascii_lowercase()
}

/// A recovery code as typed: dashes, spaces and case do not matter.
fn recovery_hash(typed: &str) -> [u8; 32] {
    let canonical: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(canonical.as_bytes()).into()
}

#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    #[error("That code is not right. Enter the 6-digit code your app shows now.")]
    WrongCode,
    #[error("Two-factor authentication is already on for this account.")]
    AlreadyOn,
    #[error("Two-factor authentication is not on for this account.")]
    NotOn,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl crate::db::Retryable for SecondFactorError {
    fn retryable(&self) -> bool {
        matches!(self, SecondFactorError::Db(e) if e.is_retryable())
    }
}

impl From<diesel::result::Error> for SecondFactorError {
    fn from(e: diesel::result::Error) -> Self {
        SecondFactorError::Db(e.into())
    }
}

/// Turns the second factor on once a code from the app proves it holds `pending`;
/// returns the recovery codes, to be shown this once. Every console session of the user
/// ends (the caller starts its own again): one opened with the password alone, perhaps
/// by whoever made the user want a second factor, does not go on.
pub fn enable(
    conn: &mut MysqlConnection,
    user: &UserRow,
    pending: &PendingSecret,
    code: &str,
    actor: &Actor,
) -> Result<Vec<String>, SecondFactorError> {
    if user.has_second_factor() {
        return Err(SecondFactorError::AlreadyOn);
    }
    let step = matching_step(&pending.0, code, unix_now()).ok_or(SecondFactorError::WrongCode)?;
    let key = sealing_key(conn)?;
    let sealed = seal(&key, user.id, &pending.0)?;
    let (codes, hashes) = recovery_codes();
    crate::db::transaction(conn, |conn| {
        if !models::users::enable_second_factor(conn, user.id, &sealed, step)? {
            return Err(SecondFactorError::AlreadyOn);
        }
        models::recovery_codes::replace(conn, user.id, &hashes)?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::TWO_FACTOR_ENABLED).target("user", &user.login),
        )?;
        Ok(())
    })?;
    Ok(codes)
}

/// How the second step of a sign-in (or a confirmation) was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    /// A recovery code, now spent; `left` are still unused.
    RecoveryCode {
        left: i64,
    },
}

/// What a code is worth.
#[derive(Debug)]
pub enum Check {
    Valid(Method),
    Wrong,
    /// Too many wrong codes for this account, or from this address.
    Throttled {
        retry_at: NaiveDateTime,
    },
}

/// Checks a code from the app or a recovery code for `user`, counted by the same kind of
/// throttle as passwords: five wrong codes for an account, then growing delays (whoever
/// sends them: the password is already known), and the address's sign-in window.
pub fn check(
    conn: &mut MysqlConnection,
    user: &UserRow,
    code: &str,
    ip: &str,
) -> Result<Check, DbError> {
    let buckets = [
        Bucket::second_factor(&user.login),
        Bucket::sign_in_address(ip),
    ];
    if let Verdict::Refused { retry_at } = throttle::take(conn, &buckets, models::now())? {
        return Ok(Check::Throttled { retry_at });
    }
    match verify(conn, user, code)? {
        Some(method) => {
            throttle::succeeded(conn, &buckets)?;
            if let Method::RecoveryCode { left } = method {
                audit::record(
                    conn,
                    audit::Event::new(&user.login, audit::RECOVERY_CODE_USED)
                        .target("user", &user.login)
                        .details(json!({ "left": left }))
                        .ip(ip),
                )?;
            }
            Ok(Check::Valid(method))
        }
        None => {
            audit::record_counted(
                conn,
                audit::Event::new(&user.login, audit::TWO_FACTOR_FAILED)
                    .target("user", &user.login)
                    .ip(ip),
            )?;
            Ok(Check::Wrong)
        }
    }
}

/// A code from the app (its step claimed once) or an unused recovery code (spent).
fn verify(
    conn: &mut MysqlConnection,
    user: &UserRow,
    code: &str,
) -> Result<Option<Method>, DbError> {
    let Some(sealed) = user
        .totp_secret
        .as_deref()
        .filter(|_| user.has_second_factor())
    else {
        return Ok(None);
    };
    let key = sealing_key(conn)?;
    let Some(secret) = open(&key, user.id, sealed) else {
        tracing::error!(user = user.login, "a second-factor secret does not decrypt");
        return Ok(None);
    };
    if let Some(step) = matching_step(&secret, code, unix_now()) {
        let fresh = models::users::claim_totp_step(conn, user.id, step)?;
        return Ok(fresh.then_some(Method::Totp));
    }
    let looks_like_recovery = code.chars().filter(char::is_ascii_alphanumeric).count() == 16;
    if looks_like_recovery && models::recovery_codes::use_once(conn, user.id, &recovery_hash(code))?
    {
        let left = models::recovery_codes::count_unused(conn, user.id)?;
        return Ok(Some(Method::RecoveryCode { left }));
    }
    Ok(None)
}

/// Turns the second factor off (the caller has confirmed the password and a code); the
/// user's console sessions end.
pub fn disable(
    conn: &mut MysqlConnection,
    user: &UserRow,
    actor: &Actor,
) -> Result<(), SecondFactorError> {
    if !user.has_second_factor() {
        return Err(SecondFactorError::NotOn);
    }
    remove(conn, user, actor, audit::TWO_FACTOR_DISABLED)
}

/// For a user locked out of their authenticator: the second factor is removed, so they
/// sign in with their password and enrol again (`consentry user reset-2fa`).
pub fn reset(
    conn: &mut MysqlConnection,
    user: &UserRow,
    actor: &Actor,
) -> Result<(), SecondFactorError> {
    remove(conn, user, actor, audit::TWO_FACTOR_RESET)
}

fn remove(
    conn: &mut MysqlConnection,
    user: &UserRow,
    actor: &Actor,
    action: &'static str,
) -> Result<(), SecondFactorError> {
    crate::db::transaction(conn, |conn| {
        models::users::remove_second_factor(conn, user.id)?;
        models::recovery_codes::delete_all(conn, user.id)?;
        audit::record(
            conn,
            audit::Event::by(actor, action).target("user", &user.login),
        )
    })?;
    Ok(())
}

/// How many recovery codes the user has left.
pub fn recovery_codes_left(conn: &mut MysqlConnection, user_id: i64) -> Result<i64, DbError> {
    models::recovery_codes::count_unused(conn, user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vectors_and_one_step_of_drift() {
        // RFC 6238 Appendix B, SHA-1, the 8-digit codes' last six digits.
        let secret = b"12345678901234567890";
        assert_eq!(matching_step(secret, "287082", 59), Some(1));
        assert_eq!(
            matching_step(secret, "081804", 1_111_111_109),
            Some(37_037_036)
        );
        assert_eq!(
            matching_step(secret, "081804", 1_111_111_109 + 30),
            Some(37_037_036)
        );
        assert_eq!(matching_step(secret, "081804", 1_111_111_109 + 60), None);
        assert_eq!(matching_step(secret, "28708", 59), None);
        assert_eq!(matching_step(secret, "2870821", 59), None);
        assert_eq!(matching_step(secret, "abcdef", 59), None);
    }

    #[test]
    fn secrets_seal_for_one_user_only() {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
        let sealed = seal(&key, 1, b"secret").unwrap();
        assert_eq!(open(&key, 1, &sealed).unwrap(), b"secret");
        assert!(open(&key, 2, &sealed).is_none(), "bound to the user");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn recovery_codes_are_typed_loosely_and_stored_hashed() {
        let (codes, hashes) = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 19);
        assert_eq!(
            recovery_hash(&codes[0].to_uppercase().replace('-', " ")),
            hashes[0]
        );
        let pending = PendingSecret::generate();
        let again = PendingSecret::from_base32(&pending.base32()).unwrap();
        assert_eq!(again.0, pending.0);
        assert!(
            pending
                .otpauth_url("alice")
                .starts_with("otpauth://totp/Consentry:alice?")
        );
    }
}
