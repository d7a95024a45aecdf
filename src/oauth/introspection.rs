//! Token introspection (RFC 7662) for confidential clients: a client learns about its own
//! tokens, and a client marked "may introspect any token" (a resource server) about
//! everyone's. Anything not active or not theirs to see gets the same `{"active":false}`.
//! Rate-limited per client.

use serde_json::{Value, json};

use crate::db::{Connect, models};
use crate::oauth::client_auth::{self, Caller};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::{Protocol, access, token_hash};

pub fn introspect(
    db: &mut impl Connect,
    proto: &Protocol,
    caller: &Caller,
    params: &Params,
) -> Result<Value, OAuthError> {
    params.reject_repeated()?;
    let client = client_auth::authenticate_request(db, proto, caller, params)?.client;
    if !client.is_confidential() {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "Introspection is for confidential clients.",
        ));
    }
    // Charged once per request, even when the work runs a second time off the worker.
    if db.first_time("introspection rate")
        && let Err(retry_after) = proto.introspection_allowed(&client.client_id)
    {
        return Err(OAuthError::Throttled { retry_after });
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    let inactive = json!({ "active": false });
    // RFC 7662 §4: only the client the token was issued to, or a resource server allowed
    // to, learns anything about it; everyone else sees an inactive token.
    let may_see = |owner: &str| owner == client.client_id || client.may_introspect_any;
    if let Some(active) = access::active_access_token(db, proto, token)? {
        let claims = active.claims;
        if !may_see(&claims.client_id) {
            return Ok(inactive);
        }
        let username = match active.facts.user_id {
            Some(id) => proto.live.user(db, id)?.map(|u| u.login.clone()),
            None => None,
        };
        return Ok(json!({
            "active": true,
            "scope": claims.scope,
            "client_id": claims.client_id,
            "sub": claims.sub,
            "username": username,
            "token_type": "Bearer",
            "exp": claims.exp,
            "iat": claims.iat,
            "iss": claims.iss,
            "aud": claims.aud,
            "jti": claims.jti,
        }));
    }
    let conn = db.connection()?;
    let Some(row) = models::refresh_tokens::find_by_hash(conn, &token_hash(token))? else {
        return Ok(inactive);
    };
    let Some(grant) = models::grants::find(conn, row.grant_id)? else {
        return Ok(inactive);
    };
    let Some(owner) = models::clients::find_by_id(conn, grant.client_id)? else {
        return Ok(inactive);
    };
    let now = models::now();
    if !may_see(&owner.client_id)
        || row.rotated_at.is_some()
        || row.expires_at <= now
        || grant.revoked_at.is_some()
        || !owner.is_active()
    {
        return Ok(inactive);
    }
    let user = match grant.user_id {
        Some(id) => models::users::find_by_id(conn, id)?,
        None => None,
    };
    Ok(json!({
        "active": true,
        "scope": row.scope,
        "client_id": owner.client_id,
        "sub": user.as_ref().map(|u| u.login.clone()).unwrap_or_else(|| owner.client_id.clone()),
        "username": user.map(|u| u.login),
        "token_type": "refresh_token",
        "exp": row.expires_at.and_utc().timestamp(),
        "iat": row.created_at.and_utc().timestamp(),
        "iss": proto.issuer,
    }))
}
