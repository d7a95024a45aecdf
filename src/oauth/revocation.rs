//! Token revocation (RFC 7009). Unknown tokens, and tokens of another client, answer the
//! same 200 as a successful revocation, so the endpoint reveals nothing.

use diesel::MysqlConnection;
use serde_json::json;

use crate::audit;
use crate::db::{Connect, models};
use crate::oauth::client_auth::{self, Caller};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::{Protocol, jwt, token_hash};

pub fn revoke(
    db: &mut impl Connect,
    proto: &Protocol,
    caller: &Caller,
    params: &Params,
) -> Result<(), OAuthError> {
    params.reject_repeated()?;
    let client = client_auth::authenticate_request(db, proto, caller, params)?.client;
    let conn = db.connection()?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    match params.get("token_type_hint") {
        None | Some("access_token") | Some("refresh_token") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                "token_type_hint must be access_token or refresh_token.",
            ));
        }
    }
    let now = models::now();
    // The hint only orders the lookup; both kinds are always tried (RFC 7009 §2.1).
    if let Some(row) = models::refresh_tokens::find_by_hash(conn, &token_hash(token))? {
        if let Some(grant) = models::grants::find(conn, row.grant_id)?
            && grant.client_id == client.id
        {
            // Each write in a transaction that is run again when it loses a race (on
            // Galera, with another node writing the same client's rows).
            crate::db::transaction(conn, |conn| {
                if models::grants::revoke(conn, grant.id, now)? {
                    record(
                        conn,
                        &client.client_id,
                        json!({ "token_type": "refresh_token", "grant": grant.id }),
                    )?;
                }
                Ok::<_, OAuthError>(())
            })?;
        }
        return Ok(());
    }
    // An access token: the signature must hold (so a forged jti revokes nothing); expiry does not matter.
    if let Some(claims) =
        jwt::verify_ignoring_expiry(conn, &proto.keys, token, &proto.issuer, &proto.audience)?
        && claims.client_id == client.client_id
    {
        crate::db::transaction(conn, |conn| {
            if models::access_tokens::revoke(conn, &claims.jti, now)? == 1 {
                record(
                    conn,
                    &client.client_id,
                    json!({ "token_type": "access_token", "jti": claims.jti }),
                )?;
            }
            Ok::<_, OAuthError>(())
        })?;
    }
    Ok(())
}

fn record(
    conn: &mut MysqlConnection,
    client_id: &str,
    details: serde_json::Value,
) -> Result<(), OAuthError> {
    audit::record(
        conn,
        audit::Event::new(&format!("client:{client_id}"), audit::TOKEN_REVOKED)
            .target("client", client_id)
            .details(details),
    )?;
    Ok(())
}
