//! The client-credentials grant (RFC 6749 §4.4), and the token endpoint's fast path: a
//! request whose client, owner, settings and key are in memory is signed on the calling
//! thread and stored by the group-commit writer (`oauth::issuer`), which answers when the
//! row is committed. Anything memory cannot answer runs the same steps again on the
//! blocking pool with a connection.

use std::sync::Arc;

use super::{Prepared, TokenResponse, family_expiry, prepare as prepare_request, require_grant};
use crate::db::models::{self, grants::IssuedToken};
use crate::db::{self, Connect, DbPool, MemoryOnly};
use crate::domain::{Client, GrantType, Scope};
use crate::oauth::client_auth::{Caller, Credentials};
use crate::oauth::error::OAuthError;
use crate::oauth::jwt::{self, AccessClaims};
use crate::oauth::params::Params;
use crate::oauth::settings::Settings;
use crate::oauth::{Protocol, scopes};

/// The token endpoint, as the server runs it: from memory when warm, and a committed row
/// behind every token it answers with.
pub async fn exchange_async(
    pool: &DbPool,
    proto: Arc<Protocol>,
    caller: Caller,
    params: Params,
) -> Result<TokenResponse, OAuthError> {
    let prepared = match prepare_request(&mut MemoryOnly, &proto, &caller, &params) {
        Err(e) if e.needs_database() => {
            let proto = proto.clone();
            db::run_lazy(pool, move |lazy: &mut db::Lazy| {
                prepare_request(lazy, &proto, &caller, &params)
            })
            .await?
        }
        other => other?,
    };
    match prepared {
        Prepared::Done(response) => Ok(response),
        Prepared::Store(issued, response) => {
            match proto.writer.get() {
                Some(writer) => {
                    writer.write_async(*issued).await?;
                }
                None => {
                    let proto = proto.clone();
                    db::run_lazy(pool, move |lazy: &mut db::Lazy| {
                        store(lazy, &proto, *issued)
                    })
                    .await?
                }
            }
            Ok(response)
        }
    }
}

/// Stores an issued client-credentials token and its grant: through the writer when the
/// server runs one (waiting on this thread), else in a transaction of its own.
pub(super) fn store(
    db: &mut impl Connect,
    proto: &Protocol,
    issued: IssuedToken,
) -> Result<(), OAuthError> {
    match proto.writer.get() {
        Some(writer) => {
            // Waiting for the writer holds no connection: it needs one to commit.
            db.release();
            writer.write(issued)?;
        }
        None => {
            let batch = std::slice::from_ref(&issued);
            db::transaction(db.connection()?, |c| {
                models::grants::insert_issued(c, batch)
            })?;
        }
    }
    Ok(())
}

pub(super) fn prepare(
    db: &mut impl Connect,
    proto: &Protocol,
    settings: &Settings,
    client: &Client,
    credentials: &Credentials,
    params: &Params,
) -> Result<(IssuedToken, TokenResponse), OAuthError> {
    require_grant(settings, client, GrantType::ClientCredentials)?;
    if !client.is_confidential() || matches!(credentials, Credentials::IdOnly { .. }) {
        return Err(OAuthError::unauthorized_client(
            "Client credentials is for confidential clients only.",
        ));
    }
    let scope = scopes::for_token(params.get("scope"), &scopes::permitted(client, settings))?;
    let owner = match client.owner_id {
        Some(id) => proto.live.user(db, id)?,
        None => None,
    }
    .ok_or_else(|| {
        OAuthError::unauthorized_client(
            "This client has no owner to act as; it cannot use client credentials.",
        )
    })?;
    if !scopes::role_allows(owner.role, scope) {
        return Err(OAuthError::invalid_scope(format!(
            "{scope} needs the client's owner to be a superuser."
        )));
    }
    let now = models::now();
    let issued = models::grants::IssuedToken {
        jti: crate::auth::random_token(16),
        client_id: client.id,
        user_id: Some(owner.id),
        grant_type: GrantType::ClientCredentials.as_str(),
        scope: scope.as_str(),
        created_at: now,
        expires_at: family_expiry(settings, now, false),
    };
    // Signed here, in parallel with other requests; the caller answers only once the row
    // is committed ([`store`], or the writer in [`exchange_async`]).
    let access_token = sign_access(
        db,
        proto,
        settings,
        client,
        &client.client_id,
        scope,
        &issued.jti,
        now,
    )?;
    // RFC 6749 §4.4.3: no refresh token for client credentials.
    let response = TokenResponse {
        token_type: "Bearer",
        expires_in: settings.access_token_lifetime,
        access_token,
        refresh_token: None,
        scope: scope.as_str().to_string(),
    };
    Ok((issued, response))
}

/// Signs an RFC 9068 access token for `subject` with the current key.
#[allow(clippy::too_many_arguments)]
pub(super) fn sign_access(
    db: &mut impl Connect,
    proto: &Protocol,
    settings: &Settings,
    client: &Client,
    subject: &str,
    scope: Scope,
    jti: &str,
    now: chrono::NaiveDateTime,
) -> Result<String, OAuthError> {
    let iat = now.and_utc().timestamp();
    jwt::sign(
        db,
        &proto.keys,
        proto.live.generation(),
        &AccessClaims {
            iss: proto.issuer.clone(),
            sub: subject.to_string(),
            aud: proto.audience.clone(),
            client_id: client.client_id.clone(),
            scope: scope.as_str().to_string(),
            iat,
            exp: iat + settings.access_token_lifetime,
            jti: jti.to_string(),
        },
    )
}
