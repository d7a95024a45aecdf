//! Step two of the authorization endpoint: the signed-in user's consent (RFC 6749 §4.1.1,
//! §4.1.2), remembered per client and user, and the code that answers it.

use chrono::Duration;
use diesel::MysqlConnection;
use serde_json::json;

use super::{
    AuthorizationRequest, AuthorizeError, CONSENT_WINDOW_SECS, ConsentPrompt, Next, redirect_error,
    redirect_to,
};
use crate::audit;
use crate::db::DbError;
use crate::db::models::{self, authorization_requests::AuthorizationRequestRow};
use crate::domain::{
    GrantType, InvalidInput, Role, Scope, ScopeRequest, ScopeSet, SiteLimit, parse_site_id,
};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::oidc::SignIn;
use crate::oauth::pkce::CodeChallenge;
use crate::oauth::settings::Settings;
use crate::oauth::{Protocol, consents, scopes, token_hash};

/// Step two, for a signed-in user: skip the screen when the client is trusted or consent
/// is remembered, else store the request and ask.
pub fn decide(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    request: AuthorizationRequest,
    user_id: i64,
    role: Role,
    sign_in: &SignIn,
) -> Result<Next, AuthorizeError> {
    let offered: Vec<Scope> = request
        .scopes
        .iter()
        .copied()
        .filter(|s| scopes::role_allows(role, *s))
        .collect();
    let with = |matomo: Option<Scope>| ScopeSet::new(matomo, request.identity);
    // Matomo scopes were asked for and this user may grant none of them.
    let refused = !request.scopes.is_empty() && offered.is_empty();
    let (false, Ok(least), Ok(highest)) = (
        refused,
        with(offered.first().copied()),
        with(offered.last().copied()),
    ) else {
        return Err(redirect_error(
            &request,
            ErrorCode::InvalidScope,
            "The requested scope needs a superuser.",
        ));
    };
    if !request.force_consent {
        let remembered = consents::remembered(conn, user_id, request.client.id)?;
        // Remembered consent covers a request whose every scope is the same or narrower
        // (Matomo scopes are ordered: each includes the ones below it, as Matomo's access
        // levels do); trusted clients get the least privileged scope requested, as the
        // screen would preselect.
        let covered = remembered
            .is_some_and(|c| c.covers(highest))
            .then_some(highest);
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
            // The websites chosen last time still hold.
            let sites = consents::remembered_sites(conn, user_id, request.client.id)?;
            let settings = Settings::load(conn)?;
            let granted = Granted {
                scope,
                sites: &sites,
            };
            return issue_code(conn, proto, &settings, &request, user_id, granted, sign_in)
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
            scopes: stored_request(&offered, &request),
            state: request.state.clone(),
            code_challenge: request.challenge.as_ref().map(|c| c.as_str().to_string()),
            expires_at: models::now() + Duration::seconds(CONSENT_WINDOW_SECS),
            nonce: request.nonce.clone(),
            acr: request.acr_values.clone(),
            device_code_id: None,
        },
    )?;
    let (sites, limit) = site_choice(conn, user_id, role, request.client.id)?;
    Ok(Next::Consent(Box::new(ConsentPrompt {
        handle,
        redirect_uri: request.redirect_uri.clone(),
        highest_requested: request.scopes.last().copied(),
        identity: request.identity,
        client: request.client,
        offered,
        sites,
        limit,
        chosen_scope: None,
    })))
}

/// The websites the consent screen offers to limit a grant to (those the user can
/// access), and the choice it preselects (the one made for this client last time).
pub(crate) fn site_choice(
    conn: &mut MysqlConnection,
    user_id: i64,
    role: Role,
    client_id: i64,
) -> Result<(Vec<models::sites::SiteRow>, SiteLimit), DbError> {
    let sites = crate::sites::accessible(conn, user_id, role)?;
    let limit = consents::remembered_sites(conn, user_id, client_id)?;
    Ok((sites, limit))
}

const REQUEST_GONE: &str = "This authorization request has expired or was already answered. Return to the application and start again.";

/// What the user's answer grants: the scopes, and the websites they apply to.
#[derive(Clone, Copy)]
struct Granted<'a> {
    scope: ScopeSet,
    sites: &'a SiteLimit,
}

/// The websites ticked on the consent screen, checked against those the user can access.
fn chosen_sites(
    conn: &mut MysqlConnection,
    user: &Approver,
    ticked: Option<&[String]>,
) -> Result<Result<SiteLimit, InvalidInput>, DbError> {
    if ticked.is_none() {
        return Ok(Ok(SiteLimit::All));
    }
    let accessible: Vec<i64> = crate::sites::accessible(conn, user.id, user.role)?
        .iter()
        .map(|s| s.id)
        .collect();
    Ok(consents::chosen_sites(&accessible, ticked))
}

/// The consent screen of the still pending request, as the user filled it in, to show
/// again with `message`; or, when the request is gone, the page saying so.
fn ask_again(
    conn: &mut MysqlConnection,
    handle: &str,
    user: &Approver,
    chosen: &ConsentChoice,
    message: String,
) -> Result<AuthorizeError, DbError> {
    let gone = || AuthorizeError::Page(REQUEST_GONE.into());
    let Some(row) = models::authorization_requests::find(conn, &token_hash(handle), user.id)?
        .filter(|r| r.expires_at > models::now())
    else {
        return Ok(gone());
    };
    let (Some(client), Ok(stored)) = (
        models::clients::find_by_id(conn, row.client_id)?,
        ScopeRequest::parse(&row.scopes),
    ) else {
        return Ok(gone());
    };
    let ticked = chosen.sites.iter().flatten();
    let prompt = ConsentPrompt {
        handle: handle.to_string(),
        client,
        highest_requested: stored.matomo.last().copied(),
        chosen_scope: chosen.scope.parse::<Scope>().ok(),
        offered: stored.matomo,
        identity: stored.identity,
        redirect_uri: row.redirect_uri,
        sites: crate::sites::accessible(conn, user.id, user.role)?,
        limit: SiteLimit::Only(ticked.filter_map(|id| parse_site_id(id).ok()).collect()),
    };
    Ok(AuthorizeError::AskAgain {
        prompt: Box::new(prompt),
        message,
    })
}

/// The scopes offered on the screen as stored with the pending request: the identity
/// scopes, then the Matomo scopes the user may choose from.
fn stored_request(offered: &[Scope], request: &AuthorizationRequest) -> String {
    crate::domain::scope_text(request.identity, offered)
}

/// The signed-in user answering the consent screen.
pub struct Approver {
    pub id: i64,
    pub login: String,
    pub role: Role,
    /// When and how they signed in, for the ID token.
    pub sign_in: SignIn,
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
    chosen: &ConsentChoice,
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

/// What the consent form sends besides Allow or Deny.
#[derive(Debug, Clone, Default)]
pub struct ConsentChoice {
    /// The Matomo scope picked.
    pub scope: String,
    /// The websites ticked, when the user limited the grant (`None`: all websites).
    pub sites: Option<Vec<String>>,
}

fn answer_steps(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    handle: &str,
    user: &Approver,
    allow: bool,
    chosen: &ConsentChoice,
) -> Result<String, AuthorizeError> {
    let (user_id, login, role) = (user.id, user.login.as_str(), user.role);
    // Checked before the request is spent: a wrong choice can be corrected and sent again.
    let sites = match allow {
        true => match chosen_sites(conn, user, chosen.sites.as_deref())? {
            Ok(sites) => sites,
            Err(refused) => return Err(ask_again(conn, handle, user, chosen, refused.0)?),
        },
        false => SiteLimit::All,
    };
    let row = models::authorization_requests::take(conn, &token_hash(handle), user_id)?
        .filter(|r| r.expires_at > models::now())
        .ok_or_else(|| AuthorizeError::Page(REQUEST_GONE.into()))?;
    let client = models::clients::find_by_id(conn, row.client_id)?
        .ok_or_else(|| AuthorizeError::Page("This application no longer exists.".into()))?;
    let stored = ScopeRequest::parse(&row.scopes)
        .map_err(|_| AuthorizeError::Page("This authorization request is damaged.".into()))?;
    let offered = stored.matomo.clone();
    // Opened from `/device`: answered to the device code; no redirect to go back with.
    let device = row.device_code_id;
    let request = AuthorizationRequest {
        redirect_uri: row.redirect_uri,
        redirect_uri_given: row.redirect_uri_given,
        state: row.state,
        scopes: offered.clone(),
        identity: stored.identity,
        challenge: row.code_challenge.as_deref().and_then(CodeChallenge::parse),
        force_consent: false,
        no_prompt: false,
        nonce: row.nonce,
        acr_values: row.acr,
        sign_in: Default::default(),
        login_hint: None,
        hinted_subject: None,
        client,
    };
    let actor = login.to_string();
    // A refusal goes back to the client's redirect URI, or, for a device, onto the page.
    let refuse = |code: ErrorCode, description: &str| match device {
        Some(_) => AuthorizeError::Page(description.to_string()),
        None => redirect_error(&request, code, description),
    };
    if !allow {
        audit::record(
            conn,
            audit::Event::new(&actor, audit::CONSENT_DENIED)
                .target("client", &request.client.client_id),
        )?;
        if let Some(device) = device {
            models::device_codes::answer(conn, device, user_id, None, models::now())?;
            return Ok(crate::oauth::device::DENIED_PATH.to_string());
        }
        return Err(refuse(ErrorCode::AccessDenied, "The user denied access."));
    }
    let scope = chosen_scopes(&request, &chosen.scope, role)
        .ok_or_else(|| AuthorizeError::Page("Choose one of the scopes offered.".into()))?;
    // The world may have changed while the screen was open.
    if !request.client.is_active() {
        return Err(refuse(
            ErrorCode::UnauthorizedClient,
            "This application is paused by an administrator.",
        ));
    }
    let settings = Settings::load(conn)?;
    let grant = match device {
        Some(_) => GrantType::DeviceCode,
        None => GrantType::AuthorizationCode,
    };
    if let Err(refusal) = settings.grant_allowed(&request.client, grant) {
        return Err(refuse(
            ErrorCode::UnauthorizedClient,
            &refusal.describe(grant),
        ));
    }
    let still_allowed = scope
        .matomo()
        .is_none_or(|m| scopes::permitted(&request.client, &settings).contains(&m))
        && scope.identity().is_subset(settings.allowed_identity);
    if !still_allowed {
        return Err(refuse(
            ErrorCode::InvalidScope,
            "The scope is no longer allowed.",
        ));
    }
    let granted = Granted {
        scope,
        sites: &sites,
    };
    if let Some(device) = device {
        approve_device(conn, &request, device, user_id, granted, &user.sign_in)?;
    }
    let remembered = consents::remembered(conn, user_id, request.client.id)?;
    consents::widen(conn, user_id, request.client.id, remembered, scope)?;
    let stored = sites.to_stored();
    models::consents::set_site_ids(conn, user_id, request.client.id, stored.as_deref())?;
    audit::record(
        conn,
        audit::Event::new(&actor, audit::CONSENT_GRANTED)
            .target("client", &request.client.client_id)
            .details(json!({ "scope": scope.to_string(), "sites": sites.to_string() })),
    )?;
    if device.is_some() {
        return Ok(crate::oauth::device::ALLOWED_PATH.to_string());
    }
    issue_code(
        conn,
        proto,
        &settings,
        &request,
        user_id,
        granted,
        &user.sign_in,
    )
}

/// The scopes of the user's answer: the Matomo scope they chose among those offered (none
/// when none was offered) with the identity scopes of the request.
fn chosen_scopes(request: &AuthorizationRequest, chosen: &str, role: Role) -> Option<ScopeSet> {
    let matomo = match (request.scopes.is_empty(), chosen) {
        (true, "") => None,
        (true, _) => return None,
        (false, chosen) => Some(
            chosen
                .parse::<Scope>()
                .ok()
                .filter(|s| request.scopes.contains(s) && scopes::role_allows(role, *s))?,
        ),
    };
    ScopeSet::new(matomo, request.identity).ok()
}

/// Stores a new code and returns the redirect that delivers it.
fn issue_code(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    settings: &Settings,
    request: &AuthorizationRequest,
    user_id: i64,
    granted: Granted,
    sign_in: &SignIn,
) -> Result<String, AuthorizeError> {
    let code = crate::auth::random_token(32);
    let expires_at = models::now() + Duration::seconds(settings.auth_code_lifetime);
    store_code(conn, &code, request, user_id, granted, sign_in, expires_at)?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &proto.issuer));
    redirect_to(&request.redirect_uri, &pairs)
}

/// The one place a code row is written; returns its id.
fn store_code(
    conn: &mut MysqlConnection,
    code: &str,
    request: &AuthorizationRequest,
    user_id: i64,
    granted: Granted,
    sign_in: &SignIn,
    expires_at: chrono::NaiveDateTime,
) -> Result<i64, DbError> {
    let sites = granted.sites.to_stored();
    models::codes::insert_returning_id(
        conn,
        &models::codes::NewCode {
            code_hash: &token_hash(code),
            client_id: request.client.id,
            user_id,
            redirect_uri: &request.redirect_uri,
            redirect_uri_given: request.redirect_uri_given,
            scope: &granted.scope.to_string(),
            code_challenge: request.challenge.as_ref().map(|c| c.as_str()),
            created_at: models::now(),
            expires_at,
            nonce: request.nonce.as_deref(),
            auth_time: sign_in.at,
            amr: &sign_in.methods,
            acr: crate::oauth::oidc::acr_met(request.acr_values.as_deref(), &sign_in.methods),
            site_ids: sites.as_deref(),
        },
    )
}

/// The user allowed a device (RFC 8628 §3.3): a code, never sent anywhere, holds what was
/// granted until the device's next poll redeems it, within the device code's lifetime.
fn approve_device(
    conn: &mut MysqlConnection,
    request: &AuthorizationRequest,
    device: i64,
    user_id: i64,
    granted: Granted,
    sign_in: &SignIn,
) -> Result<(), AuthorizeError> {
    let now = models::now();
    let expires_at = now + Duration::seconds(crate::oauth::device::LIFETIME_SECS);
    let code = crate::auth::random_token(32);
    let code_id = store_code(conn, &code, request, user_id, granted, sign_in, expires_at)?;
    if !models::device_codes::answer(conn, device, user_id, Some(code_id), now)? {
        return Err(AuthorizeError::Page(
            "This device code has expired or was already answered: start again on the device."
                .into(),
        ));
    }
    Ok(())
}
