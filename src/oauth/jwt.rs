//! Access tokens: JWTs in the RFC 9068 profile (`typ: at+jwt`), signed RS256, ES256 or
//! EdDSA as the settings choose.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Header, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use crate::db::Connect;
use crate::domain::SigningAlg;
use crate::oauth::error::OAuthError;
use crate::oauth::keys::{KeyRing, LoadedKey, jws_algorithm};

pub const TYP: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user's login, or the client ID for client credentials.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

pub fn sign(
    db: &mut impl Connect,
    keys: &KeyRing,
    generation: u64,
    claims: &AccessClaims,
) -> Result<(String, SigningAlg), OAuthError> {
    let key = current_key(db, keys, generation)?;
    Ok((sign_with(&key, claims)?, key.alg))
}

/// The key to sign with now; slow work is admitted first when its algorithm is slow.
pub fn current_key(
    db: &mut impl Connect,
    keys: &KeyRing,
    generation: u64,
) -> Result<Arc<LoadedKey>, OAuthError> {
    let key = keys.signing_key(db, generation)?;
    if key.alg.is_slow() {
        db.slow_work()?;
    }
    Ok(key)
}

/// Signs `claims` with `key` as an RFC 9068 access token.
pub fn sign_with(key: &LoadedKey, claims: &AccessClaims) -> Result<String, OAuthError> {
    jws(key, TYP, claims)
}

/// A JWS in compact serialisation (RFC 7515 §7.1) of `claims`, with `typ` and the key's
/// `kid` in the header, the key parsed once (see `keys`).
pub fn jws(key: &LoadedKey, typ: &str, claims: &impl Serialize) -> Result<String, OAuthError> {
    let mut header = Header::new(jws_algorithm(key.alg));
    header.typ = Some(typ.into());
    header.kid = Some(key.kid.clone());
    let json = |e: serde_json::Error| OAuthError::Internal(format!("token encoding: {e}"));
    let message = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(&header).map_err(json)?),
        B64.encode(serde_json::to_vec(claims).map_err(json)?)
    );
    let signature = key.sign(message.as_bytes())?;
    Ok(format!("{message}.{}", B64.encode(signature)))
}

/// Checks the signature, `typ`, issuer, audience and expiry. Revocation is checked by the
/// caller (`access::active_access_token`).
pub fn verify(
    db: &mut impl Connect,
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<Option<AccessClaims>, OAuthError> {
    verify_with(db, keys, token, issuer, audience, true)
}

/// As [`verify`] but accepting an expired token (revocation of an old token is a no-op, not an error).
pub fn verify_ignoring_expiry(
    db: &mut impl Connect,
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<Option<AccessClaims>, OAuthError> {
    verify_with(db, keys, token, issuer, audience, false)
}

fn verify_with(
    db: &mut impl Connect,
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
    check_expiry: bool,
) -> Result<Option<AccessClaims>, OAuthError> {
    let Some(kid) = acceptable_kid(token) else {
        return Ok(None);
    };
    let Some(key) = keys.verifying_key(db, &kid)? else {
        return Ok(None);
    };
    Ok(decode_claims(token, &key, issuer, audience, check_expiry))
}

/// The `kid` of a token whose header could be one of ours (`alg` one we sign with, `typ`
/// at+jwt), before any key is looked up; `None` for anything else, however malformed. The
/// key found then admits only its own algorithm ([`decode_claims`]).
pub fn acceptable_kid(token: &str) -> Option<String> {
    let header = decode_header(token).ok()?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    let alg_ok = SigningAlg::ALL
        .into_iter()
        .any(|alg| jws_algorithm(alg) == header.alg);
    if !alg_ok || !typ_ok {
        return None;
    }
    header.kid
}

/// The claims of a token signed by `key`, with issuer, audience and (optionally) expiry
/// checked; `None` for any token that fails.
pub fn decode_claims(
    token: &str,
    key: &LoadedKey,
    issuer: &str,
    audience: &str,
    check_expiry: bool,
) -> Option<AccessClaims> {
    let mut validation = Validation::new(jws_algorithm(key.alg));
    validation.leeway = 0;
    validation.validate_exp = check_expiry;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    decode::<AccessClaims>(token, &key.decoding, &validation)
        .ok()
        .map(|data| data.claims)
}
