//! OpenID Connect Core 1.0 on top of the code grant: the ID token (§2, §3.1.3.6, §12.2)
//! and the claims of the identity scopes (§5.4), which userinfo (§5.3) answers too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::NaiveDateTime;
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};

use crate::db::Connect;
use crate::domain::{IdentityScope, ScopeSet, SigningAlg};
use crate::oauth::Protocol;
use crate::oauth::error::OAuthError;
use crate::oauth::jwt;
use crate::oauth::keys::jws_algorithm;
use crate::oauth::live::UserFacts;

/// Every claim an ID token or userinfo may carry (Discovery 1.0 `claims_supported`).
pub const CLAIMS_SUPPORTED: [&str; 15] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "amr",
    "acr",
    "preferred_username",
    "name",
    "email",
    "email_verified",
];

/// Authentication context classes (`acr_values_supported`): a password, or a password
/// and a second factor.
pub const ACR_PASSWORD: &str = "urn:consentry:acr:password";
pub const ACR_MFA: &str = "urn:consentry:acr:mfa";
pub const ACR_VALUES: [&str; 2] = [ACR_PASSWORD, ACR_MFA];

/// The first of the requested `acr_values` (in the client's order of preference) that the
/// sign-in `methods` meet, if any (§3.1.2.1: a voluntary request, so none met is no error).
pub fn acr_met(requested: Option<&str>, methods: &str) -> Option<&'static str> {
    let with_code = methods.split_whitespace().any(|m| m == "otp");
    requested?.split_whitespace().find_map(|value| match value {
        ACR_PASSWORD => Some(ACR_PASSWORD),
        ACR_MFA if with_code => Some(ACR_MFA),
        _ => None,
    })
}

/// The `typ` of an ID token's header.
const ID_TOKEN_TYP: &str = "JWT";

/// Authentication method references (RFC 8176) as stored with a code and a grant.
pub const AMR_PASSWORD: &str = "pwd";

/// How and when the user proved who they are: `auth_time` and `amr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub at: NaiveDateTime,
    /// Space-separated RFC 8176 values, as stored (`pwd`, or `pwd otp`).
    pub methods: String,
}

impl SignIn {
    /// The sign-in stored with a code or grant; one from before OpenID Connect was
    /// recorded is dated at `fallback` (when its grant began) with a password.
    pub fn stored(
        at: Option<NaiveDateTime>,
        methods: Option<&str>,
        fallback: NaiveDateTime,
    ) -> Self {
        Self {
            at: at.unwrap_or(fallback),
            methods: methods.unwrap_or(AMR_PASSWORD).to_string(),
        }
    }
}

/// The claims about the user that the token's identity scopes release (§5.4): `sub`
/// always, `profile` the login, `email` the address (not verified by Consentry).
#[derive(Debug, Serialize)]
pub struct UserClaims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
}

pub fn user_claims(user: &UserFacts, scopes: ScopeSet) -> UserClaims<'_> {
    let profile = scopes.has(IdentityScope::Profile);
    let email = scopes.has(IdentityScope::Email);
    UserClaims {
        sub: &user.subject,
        preferred_username: profile.then_some(user.login.as_str()),
        name: profile.then_some(user.login.as_str()),
        email: email.then_some(user.email.as_str()),
        email_verified: email.then_some(false),
    }
}

#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    azp: &'a str,
    at_hash: String,
    amr: Vec<&'a str>,
    #[serde(flatten)]
    user: UserClaims<'a>,
}

/// What an ID token is issued for, beside the access token it goes with.
pub struct IdToken<'a> {
    pub client_id: &'a str,
    pub user: &'a UserFacts,
    pub scopes: ScopeSet,
    pub sign_in: &'a SignIn,
    /// The authorization request's; none in the ID token of a refresh (§12.2).
    pub nonce: Option<&'a str>,
    /// The requested `acr` value the sign-in met.
    pub acr: Option<&'a str>,
    pub access_token: &'a str,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Signs the ID token with the key access tokens are signed with (`kid` in the header).
pub fn sign(db: &mut impl Connect, proto: &Protocol, t: &IdToken) -> Result<String, OAuthError> {
    let key = jwt::current_key(db, &proto.keys, proto.live.generation())?;
    let claims = IdClaims {
        iss: &proto.issuer,
        aud: t.client_id,
        exp: t.expires_at.and_utc().timestamp(),
        iat: t.issued_at.and_utc().timestamp(),
        auth_time: t.sign_in.at.and_utc().timestamp(),
        nonce: t.nonce,
        acr: t.acr,
        azp: t.client_id,
        at_hash: at_hash(key.alg, t.access_token),
        amr: t.sign_in.methods.split_whitespace().collect(),
        user: user_claims(t.user, t.scopes),
    };
    jwt::jws(&key, ID_TOKEN_TYP, &claims)
}

/// What a valid `id_token_hint` says: whom it identified, to which client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub subject: String,
    pub client_id: String,
}

/// An ID token this server signed, expired or not (an `id_token_hint`, §3.1.2.1 and
/// RP-initiated logout §2); `None` for anything else.
pub fn id_token_hint(
    db: &mut impl Connect,
    proto: &Protocol,
    token: &str,
) -> Result<Option<Hint>, OAuthError> {
    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
        aud: String,
    }
    let Some(header) = jsonwebtoken::decode_header(token).ok() else {
        return Ok(None);
    };
    if header.typ.as_deref() != Some(ID_TOKEN_TYP) {
        return Ok(None);
    }
    let Some(key) = (header.kid.as_deref()).map(|kid| proto.keys.verifying_key(db, kid)) else {
        return Ok(None);
    };
    let Some(key) = key? else {
        return Ok(None);
    };
    let mut validation = jsonwebtoken::Validation::new(jws_algorithm(key.alg));
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[&proto.issuer]);
    validation.set_required_spec_claims(&["iss", "aud", "sub"]);
    Ok(
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .ok()
            .map(|data| Hint {
                subject: data.claims.sub,
                client_id: data.claims.aud,
            }),
    )
}

/// `at_hash` (§3.1.3.6): the left half of the access token's hash with the hash function
/// of the ID token's algorithm; SHA-512 for Ed25519 (errata set 2).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::Rs256 | SigningAlg::Es256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        SigningAlg::EdDsa => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    B64.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OpenID Connect Core 1.0, Appendix A.3: the access token of its example.
        assert_eq!(
            at_hash(
                SigningAlg::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(SigningAlg::EdDsa, "x").len(), 43);
    }
}
