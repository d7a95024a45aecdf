//! Access tokens: JWTs in the RFC 9068 profile (`typ: at+jwt`), signed RS256.

use jsonwebtoken::{Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use crate::db::Connect;
use crate::oauth::error::OAuthError;
use crate::oauth::keys::{ALGORITHM, KeyRing, LoadedKey};

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
    claims: &AccessClaims,
) -> Result<String, OAuthError> {
    let key = keys.signing_key(db)?;
    sign_with(&key, claims)
}

/// Signs `claims` with `key` as an RFC 9068 access token.
pub fn sign_with(key: &LoadedKey, claims: &AccessClaims) -> Result<String, OAuthError> {
    let mut header = Header::new(ALGORITHM);
    header.typ = Some(TYP.into());
    header.kid = Some(key.kid.clone());
    encode(&header, claims, &key.encoding).map_err(|e| OAuthError::Internal(format!("sign: {e}")))
}

/// Checks the signature, `typ`, issuer, audience and expiry. Revocation is checked by the
/// caller (`tokens::active_access_token`).
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

/// The `kid` of a token whose header is one of ours (`alg` RS256, `typ` at+jwt), before
/// any key is looked up; `None` for anything else, however malformed.
pub fn acceptable_kid(token: &str) -> Option<String> {
    let header = decode_header(token).ok()?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if header.alg != ALGORITHM || !typ_ok {
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
    let mut validation = Validation::new(ALGORITHM);
    validation.leeway = 0;
    validation.validate_exp = check_expiry;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    decode::<AccessClaims>(token, &key.decoding, &validation)
        .ok()
        .map(|data| data.claims)
}
