//! The authorization endpoint (RFC 6749 §4.1.1) and the consent decision.
//!
//! The client and redirect URI are checked first; until both are known good, errors are
//! shown on our own page and never redirected (no open redirect). After that, errors go
//! back to the client with `error`, `error_description`, `state` and `iss` (RFC 9207).

use chrono::Duration;
use diesel::MysqlConnection;
use serde_json::json;

use crate::audit;
use crate::db::DbError;
use crate::db::models::{
    self, authorization_requests::AuthorizationRequestRow, clients::ClientRow,
};
use crate::domain::{ClientId, GrantType, Role, Scope};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::pkce::CodeChallenge;
use crate::oauth::settings::Settings;
use crate::oauth::{Protocol, consents, scopes, token_hash};

/// How long the consent screen may stay open before its request expires.
const CONSENT_WINDOW_SECS: i64 = 600;
const MAX_STATE_LEN: usize = 1024;

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: ClientRow,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub state: Option<String>,
    /// The requested scopes the client may have, least privileged first.
    pub scopes: Vec<Scope>,
    pub challenge: Option<CodeChallenge>,
    /// `prompt=consent`: show the screen even when consent is remembered.
    pub force_consent: bool,
    /// `prompt=none`: never show a page; answer `login_required` or `consent_required`.
    pub no_prompt: bool,
}

impl AuthorizationRequest {
    /// An error for the client about this (valid) request: redirected to its vetted
    /// redirect URI, or shown on a page for a self-registered client (RFC 9700 §4.11.2).
    pub fn error(&self, code: ErrorCode, description: &str) -> AuthorizeError {
        client_error(
            &self.client,
            &self.redirect_uri,
            self.state.as_ref(),
            code,
            description,
        )
    }
}

/// An error about a request whose client and redirect URI are known. RFC 9700 §4.11.2:
/// only redirect errors to a URI an administrator vetted; anyone may register a client,
/// so a self-registered one's errors stay on an error page.
fn client_error(
    client: &ClientRow,
    redirect_uri: &str,
    state: Option<&String>,
    code: ErrorCode,
    description: &str,
) -> AuthorizeError {
    if client.self_registered {
        return AuthorizeError::Page(format!("{code}: {description}"));
    }
    AuthorizeError::Redirect(ErrorRedirect {
        redirect_uri: redirect_uri.to_string(),
        code,
        description: description.to_string(),
        state: state.cloned().filter(|s| s.len() <= MAX_STATE_LEN),
    })
}

/// The client and the redirect URI of a request: on any doubt about either, an error page
/// and never a redirect (RFC 6749 §4.1.2.1). Returns whether the URI was given.
fn identify(
    conn: &mut MysqlConnection,
    params: &Params,
) -> Result<(ClientRow, String, bool), AuthorizeError> {
    for name in ["client_id", "redirect_uri"] {
        if params.count(name) > 1 {
            return Err(AuthorizeError::Page(format!("The request repeats {name}.")));
        }
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| AuthorizeError::Page("The request has no client_id.".into()))?;
    let client = match ClientId::parse(client_id) {
        Ok(id) => models::clients::find_by_client_id(conn, id.as_str())?,
        Err(_) => None,
    }
    .ok_or_else(|| {
        AuthorizeError::Page("No application is registered with this client_id.".into())
    })?;
    let registered = client.redirect_uri_list();
    match params.get("redirect_uri") {
        Some(given) if registered.iter().any(|r| redirect_uri_matches(r, given)) => {
            Ok((client, given.to_string(), true))
        }
        Some(_) => Err(AuthorizeError::Page(
            "The redirect_uri is not registered for this application.".into(),
        )),
        None if registered.len() == 1 => {
            let only = registered[0].clone();
            Ok((client, only, false))
        }
        None => Err(AuthorizeError::Page(
            "The request has no redirect_uri, and this application has several; it must name one."
                .into(),
        )),
    }
}

/// An error to send back to the client at its (validated) redirect URI.
#[derive(Debug, Clone)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub code: ErrorCode,
    pub description: String,
    pub state: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show this on an error page.
    #[error("{0}")]
    Page(String),
    #[error("{}: {}", .0.code, .0.description)]
    Redirect(ErrorRedirect),
    #[error(transparent)]
    Protocol(#[from] OAuthError),
}

impl From<DbError> for AuthorizeError {
    fn from(e: DbError) -> Self {
        AuthorizeError::Protocol(e.into())
    }
}

impl From<diesel::result::Error> for AuthorizeError {
    fn from(e: diesel::result::Error) -> Self {
        AuthorizeError::Protocol(e.into())
    }
}

/// Where the browser goes next.
pub enum Next {
    /// Ask the user: render the consent screen for this pending request.
    Consent(Box<ConsentPrompt>),
    /// Back to the client (a code or an error).
    Redirect(String),
}

/// What the consent screen shows. The `handle` is the only thing the form sends back.
pub struct ConsentPrompt {
    pub handle: String,
    pub client: ClientRow,
    pub offered: Vec<Scope>,
    /// The widest scope the client asked for, even one this user cannot grant.
    pub highest_requested: Option<Scope>,
    pub redirect_uri: String,
}

/// Step one: check the request, before anyone signs in.
pub fn validate(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    params: &Params,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let (client, redirect_uri, redirect_uri_given) = identify(conn, params)?;
    let state = params.get("state").map(str::to_string);
    let fail = |code: ErrorCode, description: &str| {
        client_error(&client, &redirect_uri, state.as_ref(), code, description)
    };
    if let Some(name) = params.repeated() {
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("Parameter {name} is repeated."),
        ));
    }
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "state is longer than 1024 characters.",
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "response_type is required.",
            ));
        }
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "Only response_type=code is supported.",
            ));
        }
    }
    if let Err(OAuthError::Protocol { code, description }) = proto.check_resource(params) {
        return Err(fail(code, &description));
    }
    if !client.is_active() {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "This application is paused by an administrator.",
        ));
    }
    if client.owner_id.is_some()
        && models::users::find_by_id(conn, client.owner_id.unwrap_or_default())?.is_none()
    {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "This application's owner no longer exists.",
        ));
    }
    let settings = Settings::load(conn)?;
    if let Err(refusal) = settings.grant_allowed(&client, GrantType::AuthorizationCode) {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            &refusal.describe(GrantType::AuthorizationCode),
        ));
    }
    let scopes =
        scopes::for_authorization(params.get("scope"), &scopes::permitted(&client, &settings))
            .map_err(|d| fail(ErrorCode::InvalidScope, &d))?;
    let challenge = CodeChallenge::from_request(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    )
    .map_err(|d| fail(ErrorCode::InvalidRequest, d))?;
    if challenge.is_none() && (client.require_pkce || !client.is_confidential()) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "This application must use PKCE: send code_challenge with code_challenge_method=S256.",
        ));
    }
    Ok(AuthorizationRequest {
        force_consent: params
            .get("prompt")
            .is_some_and(|p| p.split(' ').any(|p| p == "consent")),
        no_prompt: params
            .get("prompt")
            .is_some_and(|p| p.split(' ').any(|p| p == "none")),
        client,
        redirect_uri,
        redirect_uri_given,
        state,
        scopes,
        challenge,
    })
}

/// Exact string comparison, except that a loopback `http://127.0.0.1` or `http://[::1]`
/// URI matches on any port (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &str, given: &str) -> bool {
    registered == given
        || matches!((loopback_without_port(registered), loopback_without_port(given)), (Some(a), Some(b)) if a == b)
}

fn loopback_without_port(uri: &str) -> Option<String> {
    for host in ["http://127.0.0.1", "http://[::1]"] {
        let Some(rest) = uri.strip_prefix(host) else {
            continue;
        };
        let rest = match rest.strip_prefix(':') {
            Some(after) => {
                let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 || digits > 5 {
                    return None;
                }
                &after[digits..]
            }
            None => rest,
        };
        // Anything else after the host (`@evil`, `.evil.com`) is not a loopback URI.
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            return Some(format!("{host}{rest}"));
        }
        return None;
    }
    None
}

/// Step two, for a signed-in user: skip the screen when the client is trusted or consent
/// is remembered, else store the request and ask.
pub fn decide(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    request: AuthorizationRequest,
    user_id: i64,
    role: Role,
) -> Result<Next, AuthorizeError> {
    let offered: Vec<Scope> = request
        .scopes
        .iter()
        .copied()
        .filter(|s| scopes::role_allows(role, *s))
        .collect();
    let Some(least) = offered.first().copied() else {
        return Err(redirect_error(
            &request,
            ErrorCode::InvalidScope,
            "The requested scope needs a superuser.",
        ));
    };
    if !request.force_consent {
        let remembered = consents::remembered(conn, user_id, request.client.id)?;
        // Remembered consent covers a request whose every scope is the same or narrower
        // (scopes are ordered: each includes the ones below it, as Matomo's access levels
        // do); trusted clients get the least privileged scope requested, as the screen
        // would preselect.
        let highest = offered.last().copied();
        let covered = highest.filter(|h| remembered.is_some_and(|c| *h <= c));
        // A self-registered client is never trusted, whatever its flag says.
        let trusted = request.client.trusted && !request.client.self_registered;
        let skip = if trusted {
            Some(least)
        } else if request.client.self_registered {
            // Never trusted: the screen shows every time, remembered consent or not.
            None
        } else {
            covered
        };
        if let Some(scope) = skip {
            if trusted {
                // Recorded like a click on Allow, so that Authorized applications lists
                // the client and the user can revoke it.
                consents::widen(conn, user_id, request.client.id, remembered, scope)?;
            }
            let settings = Settings::load(conn)?;
            return issue_code(conn, proto, &settings, &request, user_id, scope)
                .map(Next::Redirect);
        }
    }
    if request.no_prompt {
        return Err(request.error(
            ErrorCode::ConsentRequired,
            "The user has not approved this application; send them without prompt=none.",
        ));
    }
    let handle = crate::auth::random_token(32);
    models::authorization_requests::insert(
        conn,
        &AuthorizationRequestRow {
            handle_hash: token_hash(&handle).to_vec(),
            user_id,
            client_id: request.client.id,
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_given: request.redirect_uri_given,
            scopes: Scope::join(&offered),
            state: request.state.clone(),
            code_challenge: request.challenge.as_ref().map(|c| c.as_str().to_string()),
            expires_at: models::now() + Duration::seconds(CONSENT_WINDOW_SECS),
        },
    )?;
    Ok(Next::Consent(Box::new(ConsentPrompt {
        handle,
        redirect_uri: request.redirect_uri.clone(),
        highest_requested: request.scopes.last().copied(),
        client: request.client,
        offered,
    })))
}

/// The signed-in user answering the consent screen.
pub struct Approver {
    pub id: i64,
    pub login: String,
    pub role: Role,
}

/// The user's answer on the consent screen. Only the handle and the chosen scope come from
/// the form; everything else comes from the stored request.
///
/// All or nothing: the request is consumed, the consent recorded and the code stored in
/// one transaction. An answer the client hears about (a denial, a scope no longer allowed)
/// commits, since the request is spent; a database failure rolls everything back, so the
/// user can answer again.
pub fn answer(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    handle: &str,
    user: &Approver,
    allow: bool,
    chosen: &str,
) -> Result<String, AuthorizeError> {
    let mut outcome = None;
    crate::db::transaction(conn, |conn| {
        match answer_steps(conn, proto, handle, user, allow, chosen) {
            Err(AuthorizeError::Protocol(OAuthError::Db(e))) => Err(e),
            other => {
                outcome = Some(other);
                Ok(())
            }
        }
    })?;
    outcome.unwrap_or_else(|| Err(AuthorizeError::Page("The answer was not recorded.".into())))
}

fn answer_steps(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    handle: &str,
    user: &Approver,
    allow: bool,
    chosen: &str,
) -> Result<String, AuthorizeError> {
    let (user_id, login, role) = (user.id, user.login.as_str(), user.role);
    let row = models::authorization_requests::take(conn, &token_hash(handle), user_id)?
        .filter(|r| r.expires_at > models::now())
        .ok_or_else(|| {
            AuthorizeError::Page(
                "This authorization request has expired or was already answered. Return to the application and start again.".into(),
            )
        })?;
    let client = models::clients::find_by_id(conn, row.client_id)?
        .ok_or_else(|| AuthorizeError::Page("This application no longer exists.".into()))?;
    let offered = Scope::parse_list(&row.scopes).unwrap_or_default();
    let request = AuthorizationRequest {
        redirect_uri: row.redirect_uri,
        redirect_uri_given: row.redirect_uri_given,
        state: row.state,
        scopes: offered.clone(),
        challenge: row.code_challenge.as_deref().and_then(CodeChallenge::parse),
        force_consent: false,
        no_prompt: false,
        client,
    };
    let actor = login.to_string();
    if !allow {
        audit::record(
            conn,
            audit::Event::new(&actor, audit::CONSENT_DENIED)
                .target("client", &request.client.client_id),
        )?;
        return Err(redirect_error(
            &request,
            ErrorCode::AccessDenied,
            "The user denied access.",
        ));
    }
    let scope = chosen
        .parse::<Scope>()
        .ok()
        .filter(|s| offered.contains(s) && scopes::role_allows(role, *s))
        .ok_or_else(|| AuthorizeError::Page("Choose one of the scopes offered.".into()))?;
    // The world may have changed while the screen was open.
    if !request.client.is_active() {
        return Err(redirect_error(
            &request,
            ErrorCode::UnauthorizedClient,
            "This application is paused by an administrator.",
        ));
    }
    let settings = Settings::load(conn)?;
    if let Err(refusal) = settings.grant_allowed(&request.client, GrantType::AuthorizationCode) {
        return Err(redirect_error(
            &request,
            ErrorCode::UnauthorizedClient,
            &refusal.describe(GrantType::AuthorizationCode),
        ));
    }
    if !scopes::permitted(&request.client, &settings).contains(&scope) {
        return Err(redirect_error(
            &request,
            ErrorCode::InvalidScope,
            "The scope is no longer allowed.",
        ));
    }
    let remembered = consents::remembered(conn, user_id, request.client.id)?;
    consents::widen(conn, user_id, request.client.id, remembered, scope)?;
    audit::record(
        conn,
        audit::Event::new(&actor, audit::CONSENT_GRANTED)
            .target("client", &request.client.client_id)
            .details(json!({ "scope": scope.as_str() })),
    )?;
    issue_code(conn, proto, &settings, &request, user_id, scope)
}

/// Stores a new code and returns the redirect that delivers it.
fn issue_code(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    settings: &Settings,
    request: &AuthorizationRequest,
    user_id: i64,
    scope: Scope,
) -> Result<String, AuthorizeError> {
    let code = crate::auth::random_token(32);
    let now = models::now();
    models::codes::insert(
        conn,
        &models::codes::NewCode {
            code_hash: &token_hash(&code),
            client_id: request.client.id,
            user_id,
            redirect_uri: &request.redirect_uri,
            redirect_uri_given: request.redirect_uri_given,
            scope: scope.as_str(),
            code_challenge: request.challenge.as_ref().map(|c| c.as_str()),
            created_at: now,
            expires_at: now + Duration::seconds(settings.auth_code_lifetime),
        },
    )?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &proto.issuer));
    redirect_to(&request.redirect_uri, &pairs)
}

fn redirect_error(
    request: &AuthorizationRequest,
    code: ErrorCode,
    description: &str,
) -> AuthorizeError {
    AuthorizeError::Redirect(ErrorRedirect {
        redirect_uri: request.redirect_uri.clone(),
        code,
        description: description.into(),
        state: request.state.clone(),
    })
}

/// The URL that reports `error` to the client, with `iss` (RFC 9207).
pub fn error_location(error: &ErrorRedirect, issuer: &str) -> Result<String, AuthorizeError> {
    let mut pairs = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(state) = &error.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer));
    redirect_to(&error.redirect_uri, &pairs)
}

/// Appends parameters to a registered redirect URI, keeping its own query.
fn redirect_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> Result<String, AuthorizeError> {
    let mut url = url::Url::parse(redirect_uri).map_err(|_| {
        AuthorizeError::Page("The registered redirect URI is not a valid URL.".into())
    })?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_except_loopback_ports() {
        let r = "https://example-app.com/oauth/callback";
        assert!(redirect_uri_matches(r, r));
        for bad in [
            "https://example-app.com/oauth/callback/",
            "https://example-app.com/oauth/callback?x=1",
            "https://example-app.com/oauth/callback#f",
            "https://EXAMPLE-app.com/oauth/callback",
            "https://example-app.com/oauth/%63allback",
            "https://example-app.com:443/oauth/callback",
            "http://example-app.com/oauth/callback",
            "https://example-app.com/oauth/callback/../callback",
            "https://example-app.com@evil.com/oauth/callback",
        ] {
            assert!(!redirect_uri_matches(r, bad), "{bad}");
        }
        let loopback = "http://127.0.0.1/cb";
        assert!(redirect_uri_matches(loopback, "http://127.0.0.1:51234/cb"));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:8000/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]/cb",
            "http://[::1]:4000/cb"
        ));
        assert!(!redirect_uri_matches(
            loopback,
            "http://127.0.0.1:51234/cb2"
        ));
        assert!(!redirect_uri_matches(
            loopback,
            "http://127.0.0.1.evil.com/cb"
        ));
        assert!(!redirect_uri_matches(
            loopback,
            "http://127.0.0.1:80@evil.com/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:5/cb"
        ));
    }
}
