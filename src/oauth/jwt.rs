//! Access tokens: JWTs in the RFC 9068 profile (`typ: at+jwt`), signed RS256.

use diesel::MysqlConnection;
use jsonwebtoken::{Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use crate::oauth::error::OAuthError;
use crate::oauth::keys::{ALGORITHM, KeyRing};

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
    conn: &mut MysqlConnection,
    keys: &KeyRing,
    claims: &AccessClaims,
) -> Result<String, OAuthError> {
    let key = keys.signing_key(conn)?;
    let mut header = Header::new(ALGORITHM);
    header.typ = Some(TYP.into());
    header.kid = Some(key.kid.clone());
    encode(&header, claims, &key.encoding).map_err(|e| OAuthError::Internal(format!("sign: {e}")))
}

/// Checks the signature, `typ`, issuer, audience and expiry. Revocation is checked by the
/// caller against the database (`tokens::access_token_status`).
pub fn verify(
    conn: &mut MysqlConnection,
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<Option<AccessClaims>, OAuthError> {
    verify_with(conn, keys, token, issuer, audience, true)
}

/// As [`verify`] but accepting an expired token (revocation of an old token is a no-op, not an error).
pub fn verify_ignoring_expiry(
    conn: &mut MysqlConnection,
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<Option<AccessClaims>, OAuthError> {
    verify_with(conn, keys, token, issuer, audience, false)
}

fn verify_with(
    conn: &mut MysqlConnection,
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
    check_expiry: bool,
) -> Result<Option<AccessClaims>, OAuthError> {
    let Ok(header) = decode_header(token) else {
        return Ok(None);
    };
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    let Some(kid) = header.kid.as_deref() else {
        return Ok(None);
    };
    if header.alg != ALGORITHM || !typ_ok {
        return Ok(None);
    }
    let Some(key) = keys.verifying_key(conn, kid)? else {
        return Ok(None);
    };
    let mut validation = Validation::new(ALGORITHM);
    validation.leeway = 0;
    validation.validate_exp = check_expiry;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    Ok(decode::<AccessClaims>(token, &key.decoding, &validation)
        .ok()
        .map(|data| data.claims))
}
