//! The authorization endpoint (RFC 6749 §4.1.1) and the consent decision.
//!
//! The client and redirect URI are checked first; until both are known good, errors are
//! shown on our own page and never redirected (no open redirect). After that, errors go
//! back to the client with `error`, `error_description`, `state` and `iss` (RFC 9207).

use diesel::MysqlConnection;

use crate::db::DbError;
use crate::db::models;
use crate::domain::{Client, ClientId, GrantType, Identity, IdentityScope, Scope};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::pkce::CodeChallenge;
use crate::oauth::settings::Settings;
use crate::oauth::{Protocol, scopes};

pub(crate) mod consent;

pub use consent::{Approver, ConsentChoice, answer, decide};

/// How long the consent screen may stay open before its request expires.
const CONSENT_WINDOW_SECS: i64 = 600;
const MAX_STATE_LEN: usize = 1024;
/// The nonce is stored with the code (OpenID Connect Core 1.0 §3.1.2.1).
const MAX_NONCE_LEN: usize = 255;

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub state: Option<String>,
    /// The requested Matomo scopes the client may have, least privileged first.
    pub scopes: Vec<Scope>,
    /// The requested OpenID Connect scopes.
    pub identity: Identity,
    pub challenge: Option<CodeChallenge>,
    /// `prompt=consent`: show the screen even when consent is remembered.
    pub force_consent: bool,
    /// `prompt=none`: never show a page; answer `login_required` or `consent_required`.
    pub no_prompt: bool,
    /// OpenID Connect: echoed in the ID token.
    pub nonce: Option<String>,
    /// OpenID Connect `acr_values`: the first one the sign-in meets goes in the ID token.
    pub acr_values: Option<String>,
    /// OpenID Connect `prompt=login` and `max_age`: when the user must have signed in.
    pub sign_in: Freshness,
    /// OpenID Connect `login_hint`: what the sign-in form's login field starts with.
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`: with `prompt=none`, another signed-in user
    /// answers `login_required`.
    pub hinted_subject: Option<String>,
}

/// How recent the user's sign-in must be (OpenID Connect Core 1.0 §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    /// `prompt=login`: sign in again, whatever the session.
    pub again: bool,
    /// `max_age`: at most this many seconds ago.
    pub max_age: Option<i64>,
}

impl Freshness {
    /// Whether a session signed in at `auth_time` (Unix seconds) is too old at `now`.
    /// `signed_in_again`: this browser signed in after this server sent it to for this very
    /// request, which answers both `prompt=login` and `max_age` however long the sign-in
    /// page took.
    pub fn needs_sign_in(&self, auth_time: i64, now: i64, signed_in_again: bool) -> bool {
        if signed_in_again {
            return false;
        }
        self.again || self.max_age.is_some_and(|max| now - auth_time > max)
    }
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
    client: &Client,
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
) -> Result<(Client, String, bool), AuthorizeError> {
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
    let registered = &client.redirect_uris;
    match params.get("redirect_uri") {
        Some(given)
            if registered
                .iter()
                .any(|r| redirect_uri_matches(r.as_str(), given)) =>
        {
            Ok((client, given.to_string(), true))
        }
        Some(_) => Err(AuthorizeError::Page(
            "The redirect_uri is not registered for this application.".into(),
        )),
        None if registered.len() == 1 => {
            let only = registered[0].as_str().to_string();
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
    /// The consent screen's answer cannot be accepted: show the screen again, as filled
    /// in, with this message. The request stays pending.
    #[error("{message}")]
    AskAgain {
        prompt: Box<ConsentPrompt>,
        message: String,
    },
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
    pub client: Client,
    pub offered: Vec<Scope>,
    /// The widest scope the client asked for, even one this user cannot grant.
    pub highest_requested: Option<Scope>,
    /// The OpenID Connect scopes asked for: what the application learns about the user.
    pub identity: Identity,
    pub redirect_uri: String,
    /// The websites the user can access, to limit the grant to some of them; and the
    /// choice preselected (what they chose for this client last time).
    pub sites: Vec<crate::db::models::sites::SiteRow>,
    pub limit: crate::domain::SiteLimit,
    /// The scope preselected: the least privileged, unless the user chose another.
    pub chosen_scope: Option<Scope>,
}

/// Without the handle: it answers the pending request, so it is never logged.
impl std::fmt::Debug for ConsentPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentPrompt")
            .field("client_id", &self.client.client_id)
            .field("offered", &self.offered)
            .finish_non_exhaustive()
    }
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
    if let Err((code, description)) = check_shape(proto, params, state.as_deref()) {
        return Err(fail(code, &description));
    }
    let settings = Settings::load(conn)?;
    if let Err(description) = check_client(conn, &client, &settings)? {
        return Err(fail(ErrorCode::UnauthorizedClient, &description));
    }
    let scopes = scopes::for_authorization(
        params.get("scope"),
        &scopes::permitted(&client, &settings),
        settings.allowed_identity,
    )
    .map_err(|d| fail(ErrorCode::InvalidScope, &d))?;
    let oidc = openid_parameters(conn, proto, params, &client)?
        .map_err(|d| fail(ErrorCode::InvalidRequest, &d))?;
    if params.get("request").is_some() {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "Request objects are not supported: send the parameters themselves.",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported: send the parameters themselves.",
        ));
    }
    // OpenID Connect Core §3.1.2.1: an authentication request names its redirect URI.
    if scopes.identity.contains(IdentityScope::OpenId) && !redirect_uri_given {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "redirect_uri is required with the openid scope.",
        ));
    }
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
        force_consent: oidc.prompt.consent,
        no_prompt: oidc.prompt.none,
        sign_in: Freshness {
            again: oidc.prompt.login,
            max_age: oidc.max_age,
        },
        nonce: oidc.nonce,
        acr_values: oidc.acr_values,
        login_hint: oidc.login_hint,
        hinted_subject: oidc.hinted_subject,
        client,
        redirect_uri,
        redirect_uri_given,
        state,
        scopes: scopes.matomo,
        identity: scopes.identity,
        challenge,
    })
}

/// The values of `prompt` (OpenID Connect Core 1.0 §3.1.2.1).
#[derive(Debug, Default)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

impl Prompt {
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut prompt = Prompt::default();
        for value in raw.unwrap_or("").split_whitespace() {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                // One account per browser: there is nothing to select.
                "select_account" => {}
                other => {
                    return Err(format!(
                        "prompt {} is not supported: use none, login or consent.",
                        crate::oauth::printable(other)
                    ));
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err("prompt=none cannot be combined with other values.".into());
        }
        Ok(prompt)
    }
}

/// The OpenID Connect parameters of an authorization request.
struct OpenIdParameters {
    prompt: Prompt,
    nonce: Option<String>,
    acr_values: Option<String>,
    max_age: Option<i64>,
    login_hint: Option<String>,
    hinted_subject: Option<String>,
}

/// Reads `prompt`, `nonce`, `max_age`, `login_hint` and `id_token_hint`; `Err` inside:
/// the `invalid_request` description.
fn openid_parameters(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    params: &Params,
    client: &Client,
) -> Result<Result<OpenIdParameters, String>, OAuthError> {
    let hinted_subject = match params.get("id_token_hint") {
        None => None,
        Some(hint) => match crate::oauth::oidc::id_token_hint(conn, proto, hint)? {
            Some(hint) if hint.client_id == client.client_id => Some(hint.subject),
            _ => {
                return Ok(Err(
                    "id_token_hint is not an ID token this server issued to this client.".into(),
                ));
            }
        },
    };
    Ok(read_openid_parameters(params, hinted_subject))
}

fn read_openid_parameters(
    params: &Params,
    hinted_subject: Option<String>,
) -> Result<OpenIdParameters, String> {
    let prompt = Prompt::parse(params.get("prompt"))?;
    let nonce = params.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(format!("nonce is longer than {MAX_NONCE_LEN} characters."));
    }
    let acr_values = params.get("acr_values").map(str::to_string);
    if acr_values.as_ref().is_some_and(|a| a.len() > 64) {
        return Err("acr_values is longer than 64 characters.".into());
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(raw) => Some(
            raw.parse::<u32>()
                .map(i64::from)
                .map_err(|_| "max_age must be a whole number of seconds.".to_string())?,
        ),
    };
    let login_hint = params
        .get("login_hint")
        .map(|h| h.chars().filter(|c| !c.is_control()).take(100).collect());
    Ok(OpenIdParameters {
        prompt,
        nonce,
        acr_values,
        max_age,
        login_hint,
        hinted_subject,
    })
}

/// The request's own form: no repeated parameter (RFC 6749 §3.1), a bounded `state`,
/// `response_type=code` (RFC 9700 §2.1.2: no implicit flow) and an acceptable `resource`.
fn check_shape(
    proto: &Protocol,
    params: &Params,
    state: Option<&str>,
) -> Result<(), (ErrorCode, String)> {
    if let Some(name) = params.repeated() {
        return Err((
            ErrorCode::InvalidRequest,
            format!("Parameter {name} is repeated."),
        ));
    }
    if state.is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err((
            ErrorCode::InvalidRequest,
            "state is longer than 1024 characters.".into(),
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => {
            return Err((
                ErrorCode::InvalidRequest,
                "response_type is required.".into(),
            ));
        }
        Some(_) => {
            return Err((
                ErrorCode::UnsupportedResponseType,
                "Only response_type=code is supported.".into(),
            ));
        }
    }
    if let Err(OAuthError::Protocol { code, description }) = proto.check_resource(params) {
        return Err((code, description));
    }
    Ok(())
}

/// Whether this client may start an authorization now: active, its owner still exists,
/// and the code grant allowed for it and on the server. `Err` inside: why not.
fn check_client(
    conn: &mut MysqlConnection,
    client: &Client,
    settings: &Settings,
) -> Result<Result<(), String>, DbError> {
    if !client.is_active() {
        return Ok(Err("This application is paused by an administrator.".into()));
    }
    if let Some(owner) = client.owner_id
        && models::users::find_by_id(conn, owner)?.is_none()
    {
        return Ok(Err("This application's owner no longer exists.".into()));
    }
    Ok(settings
        .grant_allowed(client, GrantType::AuthorizationCode)
        .map_err(|refusal| refusal.describe(GrantType::AuthorizationCode)))
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
