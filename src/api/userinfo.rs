//! The OpenID Connect userinfo endpoint (Core 1.0 §5.3): the claims of the identity
//! scopes for the user an access token with `openid` acts for. A protected resource like
//! the API, with the same token check and the same RFC 6750 errors.

use serde_json::Value;

use crate::api::ApiError;
use crate::db::Connect;
use crate::domain::{IdentityScope, ScopeSet};
use crate::oauth::{Protocol, access, oidc};

pub fn claims(db: &mut impl Connect, proto: &Protocol, token: &str) -> Result<Value, ApiError> {
    let invalid = || {
        ApiError::InvalidToken(
            "The access token is invalid, expired or revoked, or its client is paused.".into(),
        )
    };
    let active = access::active_access_token(db, proto, token)?.ok_or_else(invalid)?;
    let scopes: ScopeSet = active.claims.scope.parse().map_err(|_| invalid())?;
    if !scopes.has(IdentityScope::OpenId) {
        return Err(ApiError::InsufficientScope {
            needed: IdentityScope::OpenId.as_str(),
            message: "userinfo needs a token with the openid scope.".into(),
        });
    }
    let user_id = active.facts.user_id.ok_or_else(invalid)?;
    let user = proto.live.user(db, user_id)?.ok_or_else(invalid)?;
    access::touch_last_used(proto, active.client.id);
    serde_json::to_value(oidc::user_claims(&user, scopes))
        .map_err(|e| ApiError::Internal(format!("userinfo encoding: {e}")))
}
