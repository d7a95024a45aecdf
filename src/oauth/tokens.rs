//! The token endpoint (RFC 6749 §4.1.3, §4.4, §6): authorization code, client credentials
//! and refresh token grants, and the issuing of access and refresh tokens under a grant.
//!
//! Codes and refresh tokens are claimed with one conditional UPDATE inside the transaction
//! that stores the new tokens (the group-commit writer's batch, `issuer`). A concurrent or
//! later second use finds the row claimed and revokes the grant, which kills every token
//! in the family however the race was ordered.

use std::str::FromStr;

use chrono::Duration;
use diesel::MysqlConnection;
use serde_json::json;

use crate::audit;
use crate::db::models::issued::{IssuedToken, NewRefresh, Under};
use crate::db::{Connect, DbError, models};
use crate::domain::{Client, GrantType, IdentityScope, ScopeSet, SigningAlg, SiteLimit};
use crate::oauth::client_auth::{self, Caller};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::issuer::{self, Issue, Replay, Ticket};
use crate::oauth::jwt::{self, AccessClaims};
use crate::oauth::oidc::{self, IdToken, SignIn};
use crate::oauth::params::Params;
use crate::oauth::pkce::CodeChallenge;
use crate::oauth::settings::Settings;
use crate::oauth::{Protocol, scopes, token_hash};
use crate::telemetry::metrics;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, serde::Serialize)]
pub struct TokenResponse {
    pub token_type: &'static str,
    pub expires_in: i64,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    /// OpenID Connect Core 1.0 §3.1.3.3: with the `openid` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// A token response, and the commit it still waits for when the group-commit writer
/// stores its token.
pub struct Exchanged {
    response: TokenResponse,
    commit: Option<Ticket>,
    /// The `invalid_grant` description when the token's claim is lost meanwhile.
    lost: &'static str,
    /// The grant type and signing algorithm, counted once the token is committed.
    issued: (&'static str, &'static str),
}

impl Exchanged {
    /// The response, once its token's rows are committed.
    pub async fn committed(self) -> Result<TokenResponse, OAuthError> {
        if let Some(ticket) = self.commit
            && !ticket.committed().await?
        {
            return Err(OAuthError::invalid_grant(self.lost));
        }
        metrics::token_issued(self.issued.0, self.issued.1);
        Ok(self.response)
    }

    /// The response of a server without a writer (the command line, direct tests), whose
    /// rows were committed in the request's own transaction.
    pub fn stored(self) -> Result<TokenResponse, OAuthError> {
        match self.commit {
            None => {
                metrics::token_issued(self.issued.0, self.issued.1);
                Ok(self.response)
            }
            Some(_) => Err(OAuthError::Db(crate::db::DbError::Unavailable(
                "the token is still being stored: await Exchanged::committed".into(),
            ))),
        }
    }
}

/// Handles one token request: authenticates the client, then runs its grant. The
/// response may still wait for its commit ([`Exchanged::committed`]).
pub fn exchange(
    db: &mut impl Connect,
    proto: &Protocol,
    caller: &Caller,
    params: &Params,
) -> Result<Exchanged, OAuthError> {
    params.reject_repeated()?;
    let grant = match params.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required.")),
        Some("authorization_code") => GrantType::AuthorizationCode,
        Some("refresh_token") => GrantType::RefreshToken,
        Some("client_credentials") => GrantType::ClientCredentials,
        Some(urn) if urn == GrantType::DeviceCode.as_str() => GrantType::DeviceCode,
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type {} is not supported: use authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code.",
                    crate::oauth::printable(other)
                ),
            ));
        }
    };
    let client_auth::Authenticated {
        client,
        secret_hash,
    } = client_auth::authenticate_request(db, proto, caller, params)?;
    proto.check_resource(params)?;
    let settings = proto.live.settings(db)?;
    let response = match grant {
        GrantType::AuthorizationCode => redeem_code(db, proto, &settings, &client, params),
        GrantType::RefreshToken => refresh(db, proto, &settings, &client, params),
        GrantType::ClientCredentials => {
            client_credentials(db, proto, &settings, &client, secret_hash, params)
        }
        GrantType::DeviceCode => crate::oauth::device::poll(db, proto, &settings, &client, params),
    }?;
    crate::oauth::access::touch_last_used(proto, client.id);
    Ok(response)
}

/// `unauthorized_client` unless the grant is allowed (the one rule, in settings).
fn require_grant(settings: &Settings, client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    settings
        .grant_allowed(client, grant)
        .map_err(|refusal| OAuthError::unauthorized_client(refusal.describe(grant)))
}

/// `unauthorized_client` unless the grant is allowed (the one rule, in settings).
pub(crate) fn require_grant_for(
    settings: &Settings,
    client: &Client,
    grant: GrantType,
) -> Result<(), OAuthError> {
    require_grant(settings, client, grant)
}

/// Whether refresh tokens go with tokens issued to this client now.
fn refresh_enabled(settings: &Settings, client: &Client) -> bool {
    settings
        .grant_allowed(client, GrantType::RefreshToken)
        .is_ok()
}

const BAD_CODE: &str = "The authorization code is invalid, expired or already used.";

fn redeem_code(
    db: &mut impl Connect,
    proto: &Protocol,
    settings: &Settings,
    client: &Client,
    params: &Params,
) -> Result<Exchanged, OAuthError> {
    require_grant(settings, client, GrantType::AuthorizationCode)?;
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required."))?;
    let conn = db.connection()?;
    let row = models::codes::find_by_hash(conn, &token_hash(code))?
        .ok_or_else(|| OAuthError::invalid_grant(BAD_CODE))?;
    if row.client_id != client.id {
        return Err(OAuthError::invalid_grant(BAD_CODE));
    }
    refuse_replay(conn, client, &row, BAD_CODE)?;
    if row.expires_at <= models::now() {
        return Err(OAuthError::invalid_grant(BAD_CODE));
    }
    check_code_binding(&row, params)?;
    redeem_row(
        db,
        proto,
        settings,
        client,
        row,
        GrantType::AuthorizationCode,
        BAD_CODE,
    )
}

/// A code the device authorization grant was approved with (RFC 8628 §3.5): redeemed as
/// the code grant's are, once; a second redemption revokes what the first one got.
pub(crate) fn redeem_device_code(
    db: &mut impl Connect,
    proto: &Protocol,
    settings: &Settings,
    client: &Client,
    row: models::codes::CodeRow,
    lost: &'static str,
) -> Result<Exchanged, OAuthError> {
    refuse_replay(db.connection()?, client, &row, lost)?;
    redeem_row(
        db,
        proto,
        settings,
        client,
        row,
        GrantType::DeviceCode,
        lost,
    )
}

/// A code used before: every token issued from it is revoked, and this use refused.
fn refuse_replay(
    conn: &mut MysqlConnection,
    client: &Client,
    row: &models::codes::CodeRow,
    lost: &'static str,
) -> Result<(), OAuthError> {
    if row.used_at.is_none() {
        return Ok(());
    }
    // A transaction of its own, run again if it loses a race (on Galera, with the
    // winner's node writing the same client's rows).
    crate::db::transaction(conn, |c| revoke_code_grants(c, client, row.id))?;
    Err(OAuthError::invalid_grant(lost))
}

/// Issues the tokens of a checked, unused code: its scopes as still allowed, the user
/// who approved, a refresh token when the client may refresh, an ID token with `openid`.
fn redeem_row(
    db: &mut impl Connect,
    proto: &Protocol,
    settings: &Settings,
    client: &Client,
    row: models::codes::CodeRow,
    grant: GrantType,
    lost: &'static str,
) -> Result<Exchanged, OAuthError> {
    let now = models::now();
    let scopes = current_scopes(&row.scope, client, settings)?;
    let user = proto
        .live
        .user(db, row.user_id)?
        .ok_or_else(|| OAuthError::invalid_grant(lost))?;
    if let Some(scope) = scopes.matomo()
        && !scopes::role_allows(user.role, scope)
    {
        return Err(OAuthError::invalid_scope(format!(
            "{scope} needs a superuser; the user who approved is no longer one."
        )));
    }
    let with_refresh = refresh_enabled(settings, client);
    let (refresh, refresh_token) = match with_refresh {
        true => {
            let (refresh, token) = new_refresh(family_expiry(settings, client, now, true));
            (Some(refresh), Some(token))
        }
        false => (None, None),
    };
    let token = IssuedToken {
        jti: crate::auth::random_token(16),
        client_id: client.id,
        user_id: Some(user.id),
        scope: scopes.to_string(),
        created_at: now,
        expires_at: access_expiry(settings, client, now),
        sites: SiteLimit::stored(row.site_ids.as_deref()),
        under: Under::Code {
            grant,
            code_id: row.id,
            grant_expires: family_expiry(settings, client, now, with_refresh),
            refresh,
        },
    };
    // The claim is made where the token is stored: when another use of the code wins
    // it, this request revokes what that one issued and is refused.
    let (replayed, code_id) = (client.clone(), row.id);
    let replay: Replay = Box::new(move |conn| revoke_code_grants(conn, &replayed, code_id));
    let (access_token, alg) = sign_access(db, proto, client, &user.login, &token)?;
    let sign_in = SignIn::stored(row.auth_time, row.amr.as_deref(), now);
    let id_token = match scopes.has(IdentityScope::OpenId) {
        true => Some(oidc::sign(
            db,
            proto,
            &IdToken {
                client_id: &client.client_id,
                user: &user,
                scopes,
                sign_in: &sign_in,
                nonce: row.nonce.as_deref(),
                acr: row.acr.as_deref(),
                access_token: &access_token,
                issued_at: now,
                expires_at: token.expires_at,
            },
        )?),
        false => None,
    };
    let mut answer = response(settings, client, access_token, refresh_token, scopes);
    answer.id_token = id_token;
    deliver(
        db,
        proto,
        Issue {
            token,
            replay: Some(replay),
        },
        lost,
        answer,
        alg,
    )
}

/// The code is bound to its authorization request: the same `redirect_uri` when one was
/// sent there (RFC 6749 §4.1.3) and the verifier of its PKCE challenge (RFC 7636 §4.6).
fn check_code_binding(row: &models::codes::CodeRow, params: &Params) -> Result<(), OAuthError> {
    let redirect_ok = match params.get("redirect_uri") {
        Some(given) => given == row.redirect_uri,
        None => !row.redirect_uri_given,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one in the authorization request.",
        ));
    }
    let challenge = row.code_challenge.as_deref().and_then(CodeChallenge::parse);
    match (challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if challenge.verify(verifier) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge.",
            ));
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required: the authorization request used PKCE.",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge.",
            ));
        }
        (None, None) => {}
    }
    Ok(())
}

/// A code was used twice: every token issued from it is revoked (RFC 6749 §4.1.2).
fn revoke_code_grants(
    conn: &mut MysqlConnection,
    client: &Client,
    code_id: i64,
) -> Result<(), DbError> {
    let revoked = models::grants::revoke_by_code(conn, client.id, code_id, models::now())?;
    audit::record(
        conn,
        audit::Event::new(
            &format!("client:{}", client.client_id),
            audit::CODE_REPLAYED,
        )
        .target("client", &client.client_id)
        .details(json!({ "grants_revoked": revoked })),
    )?;
    Ok(())
}

/// Stored scopes, still allowed for the client by the current settings.
fn current_scopes(
    stored: &str,
    client: &Client,
    settings: &Settings,
) -> Result<ScopeSet, OAuthError> {
    let scopes = ScopeSet::from_str(stored).map_err(|e| OAuthError::invalid_scope(e.0))?;
    if let Some(scope) = scopes.matomo()
        && !scopes::permitted(client, settings).contains(&scope)
    {
        return Err(OAuthError::invalid_scope(format!(
            "{scope} is no longer allowed for this client."
        )));
    }
    if !scopes.identity().is_subset(settings.allowed_identity) {
        return Err(OAuthError::invalid_scope(
            "An OpenID Connect scope of this grant is no longer allowed on this server.",
        ));
    }
    Ok(scopes)
}

const BAD_REFRESH: &str = "The refresh token is invalid, expired or revoked.";

fn refresh(
    db: &mut impl Connect,
    proto: &Protocol,
    settings: &Settings,
    client: &Client,
    params: &Params,
) -> Result<Exchanged, OAuthError> {
    require_grant(settings, client, GrantType::RefreshToken)?;
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
    let conn = db.connection()?;
    let (row, grant) = models::refresh_tokens::find_with_grant(conn, &token_hash(token))?
        .ok_or_else(|| OAuthError::invalid_grant(BAD_REFRESH))?;
    if grant.client_id != client.id || grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant(BAD_REFRESH));
    }
    if row.rotated_at.is_some() {
        crate::db::transaction(conn, |c| revoke_reused_family(c, client, grant.id))?;
        return Err(OAuthError::invalid_grant(BAD_REFRESH));
    }
    let now = models::now();
    if row.expires_at <= now {
        return Err(OAuthError::invalid_grant(BAD_REFRESH));
    }
    let held = current_scopes(&row.scope, client, settings)?;
    let scopes = scopes::for_refresh(params.get("scope"), held)?;
    let user = match grant.user_id {
        Some(user_id) => Some(
            proto
                .live
                .user(db, user_id)?
                .ok_or_else(|| OAuthError::invalid_grant(BAD_REFRESH))?,
        ),
        None => None,
    };
    if let (Some(user), Some(scope)) = (&user, scopes.matomo())
        && !scopes::role_allows(user.role, scope)
    {
        return Err(OAuthError::invalid_scope(format!(
            "{scope} needs a superuser."
        )));
    }
    let subject = match &user {
        Some(user) => user.login.clone(),
        None => client.client_id.clone(),
    };
    // Refresh tokens rotate, but the family's lifetime counts from the authorization
    // (RFC 9700 §4.14.2): a client cannot keep access forever by refreshing.
    let family_ends = grant.created_at + Duration::seconds(settings.refresh_lifetime(client));
    if family_ends <= now {
        return Err(OAuthError::invalid_grant(BAD_REFRESH));
    }
    let (refresh, refresh_token) = new_refresh(family_ends);
    let token = IssuedToken {
        jti: crate::auth::random_token(16),
        client_id: client.id,
        user_id: grant.user_id,
        scope: scopes.to_string(),
        created_at: now,
        expires_at: access_expiry(settings, client, now),
        sites: SiteLimit::stored(grant.site_ids.as_deref()),
        under: Under::Refresh {
            refresh_id: row.id,
            grant_id: grant.id,
            refresh,
        },
    };
    let (replayed, grant_id) = (client.clone(), grant.id);
    let replay: Replay = Box::new(move |conn| revoke_reused_family(conn, &replayed, grant_id));
    let (access_token, alg) = sign_access(db, proto, client, &subject, &token)?;
    // §12.2: the same subject and sign-in as the ID token of the code, and no nonce.
    let id_token = match (&user, scopes.has(IdentityScope::OpenId)) {
        (Some(user), true) => Some(oidc::sign(
            db,
            proto,
            &IdToken {
                client_id: &client.client_id,
                user,
                scopes,
                sign_in: &SignIn::stored(grant.auth_time, grant.amr.as_deref(), grant.created_at),
                nonce: None,
                acr: grant.acr.as_deref(),
                access_token: &access_token,
                issued_at: now,
                expires_at: token.expires_at,
            },
        )?),
        _ => None,
    };
    let mut answer = response(settings, client, access_token, Some(refresh_token), scopes);
    answer.id_token = id_token;
    deliver(
        db,
        proto,
        Issue {
            token,
            replay: Some(replay),
        },
        BAD_REFRESH,
        answer,
        alg,
    )
}

/// A rotated refresh token came back: someone holds a copy, so the family dies (RFC 9700 §4.14.2).
fn revoke_reused_family(
    conn: &mut MysqlConnection,
    client: &Client,
    grant_id: i64,
) -> Result<(), DbError> {
    models::grants::revoke(conn, grant_id, models::now())?;
    audit::record(
        conn,
        audit::Event::new(
            &format!("client:{}", client.client_id),
            audit::REFRESH_REUSED,
        )
        .target("client", &client.client_id)
        .details(json!({ "grant": grant_id })),
    )?;
    Ok(())
}

fn client_credentials(
    db: &mut impl Connect,
    proto: &Protocol,
    settings: &Settings,
    client: &Client,
    secret_hash: Option<Vec<u8>>,
    params: &Params,
) -> Result<Exchanged, OAuthError> {
    require_grant(settings, client, GrantType::ClientCredentials)?;
    let Some(secret_hash) = secret_hash.filter(|_| client.is_confidential()) else {
        return Err(OAuthError::unauthorized_client(
            "Client credentials is for confidential clients only.",
        ));
    };
    let scope = scopes::for_token(params.get("scope"), &scopes::permitted(client, settings))?;
    let owner = match client.owner_id {
        Some(id) => proto.live.user(db, id)?,
        None => None,
    }
    .ok_or_else(|| {
        OAuthError::unauthorized_client(
            "This client has no active owner to act as; it cannot use client credentials.",
        )
    })?;
    if !scopes::role_allows(owner.role, scope) {
        return Err(OAuthError::invalid_scope(format!(
            "{scope} needs the client's owner to be a superuser."
        )));
    }
    let now = models::now();
    let token = IssuedToken {
        jti: crate::auth::random_token(16),
        client_id: client.id,
        user_id: Some(owner.id),
        scope: scope.as_str().to_string(),
        created_at: now,
        expires_at: access_expiry(settings, client, now),
        sites: client.site_limit.clone(),
        under: Under::OwnGrant { secret_hash },
    };
    let (access_token, alg) = sign_access(db, proto, client, &client.client_id, &token)?;
    // RFC 6749 §4.4.3: no refresh token for client credentials.
    deliver(
        db,
        proto,
        Issue {
            token,
            replay: None,
        },
        "",
        response(settings, client, access_token, None, ScopeSet::only(scope)),
        alg,
    )
}

/// Hands a signed token to be stored. The response is answered only once its rows are
/// committed: by the group-commit writers when the server runs them (the caller awaits
/// the ticket, holding no thread and no connection), otherwise here and now.
fn deliver(
    db: &mut impl Connect,
    proto: &Protocol,
    issue: Issue,
    lost: &'static str,
    response: TokenResponse,
    alg: SigningAlg,
) -> Result<Exchanged, OAuthError> {
    let issued = (issue.token.under.grant_type(), alg.as_str());
    let commit = match proto.writer.get() {
        Some(writer) => Some(writer.submit(issue)?),
        None => {
            if !issuer::store_alone(db.connection()?, &proto.live, &issue)? {
                return Err(OAuthError::invalid_grant(lost));
            }
            None
        }
    };
    Ok(Exchanged {
        response,
        commit,
        lost,
        issued,
    })
}

fn response(
    settings: &Settings,
    client: &Client,
    access_token: String,
    refresh_token: Option<String>,
    scopes: ScopeSet,
) -> TokenResponse {
    TokenResponse {
        token_type: "Bearer",
        expires_in: settings.access_lifetime(client),
        access_token,
        refresh_token,
        scope: scopes.to_string(),
        id_token: None,
    }
}

/// A new refresh token valid until `expires_at`: what is stored (its hash), and what the
/// client gets.
fn new_refresh(expires_at: chrono::NaiveDateTime) -> (NewRefresh, String) {
    let token = crate::auth::random_token(32);
    let refresh = NewRefresh {
        token_hash: token_hash(&token),
        expires_at,
    };
    (refresh, token)
}

/// Signs an RFC 9068 access token for `subject` with the current key.
fn sign_access(
    db: &mut impl Connect,
    proto: &Protocol,
    client: &Client,
    subject: &str,
    token: &IssuedToken,
) -> Result<(String, SigningAlg), OAuthError> {
    let iat = token.created_at.and_utc().timestamp();
    jwt::sign(
        db,
        &proto.keys,
        proto.live.generation(),
        &AccessClaims {
            iss: proto.issuer.clone(),
            sub: subject.to_string(),
            aud: proto.audience.clone(),
            client_id: client.client_id.clone(),
            scope: token.scope.clone(),
            iat,
            exp: token.expires_at.and_utc().timestamp(),
            jti: token.jti.clone(),
        },
    )
}

/// When an access token issued now to `client` expires.
fn access_expiry(
    settings: &Settings,
    client: &Client,
    now: chrono::NaiveDateTime,
) -> chrono::NaiveDateTime {
    now + Duration::seconds(settings.access_lifetime(client))
}

/// When the last token issued now would expire: the grant may be purged after that.
fn family_expiry(
    settings: &Settings,
    client: &Client,
    now: chrono::NaiveDateTime,
    with_refresh: bool,
) -> chrono::NaiveDateTime {
    let access = access_expiry(settings, client, now);
    if with_refresh {
        access.max(now + Duration::seconds(settings.refresh_lifetime(client)))
    } else {
        access
    }
}
