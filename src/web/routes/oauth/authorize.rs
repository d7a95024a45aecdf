//! `/oauth2/authorize` and the consent screen's `/oauth2/consent`.

use actix_session::SessionExt;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use askama::Template;

use super::read_form;
use crate::db;
use crate::domain::{FieldErrors, Identity, IdentityScope};
use crate::oauth::authorize::{self, AuthorizationRequest, AuthorizeError, ConsentPrompt, Next};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::routes::form::Fields;
use crate::web::routes::page::{Layout, render, render_form, see_other};
use crate::web::session::{self, SessionUser};
use crate::web::state::AppState;

pub async fn authorize_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = Params::parse(req.query_string().as_bytes());
    authorize(req, state, params).await
}

pub async fn authorize_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = read_form(&req, payload)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    authorize(req, state, params).await
}

/// Validates the request, then signs the user in (coming back here), then asks or redirects.
pub async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, AppError> {
    let (checked, proto) = (params.clone(), state.protocol.clone());
    let request = match db::run_with(&state.pool, move |conn| {
        authorize::validate(conn, &proto, &checked)
    })
    .await
    {
        Ok(request) => request,
        Err(e) => return answer_error(&state, e),
    };
    let now = chrono::Utc::now().timestamp();
    let user = match SessionUser::extract(&req).await {
        Ok(user) => user,
        // prompt=none: the client asked not to show a page, so it hears it must sign in.
        Err(AppError::SignInRequired { .. }) if request.no_prompt => {
            let error = request.error(
                ErrorCode::LoginRequired,
                "The user is not signed in; send them without prompt=none.",
            );
            return answer_error(&state, error);
        }
        Err(AppError::SignInRequired { .. }) => {
            session::ask_to_sign_in_again(&req.get_session(), now)?;
            return Ok(see_other(&sign_in_path(&params, &request, false)));
        }
        // A role that must have a second factor and has none: no page with prompt=none.
        Err(AppError::SecondFactorRequired) if request.no_prompt => {
            let error = request.error(
                ErrorCode::InteractionRequired,
                "The user must set up two-factor authentication first; send them without prompt=none.",
            );
            return answer_error(&state, error);
        }
        Err(e) => return Err(e),
    };
    let again = session::signed_in_again(&req.get_session(), now);
    if request.sign_in.needs_sign_in(user.issued_at, now, again) {
        if request.no_prompt {
            let error = request.error(
                ErrorCode::LoginRequired,
                "The user signed in longer ago than max_age; send them without prompt=none.",
            );
            return answer_error(&state, error);
        }
        session::ask_to_sign_in_again(&req.get_session(), now)?;
        return Ok(see_other(&sign_in_path(&params, &request, true)));
    }
    if request.no_prompt
        && (request.hinted_subject.as_ref()).is_some_and(|hinted| *hinted != user.subject)
    {
        let error = request.error(
            ErrorCode::LoginRequired,
            "Another user is signed in than the one of id_token_hint.",
        );
        return answer_error(&state, error);
    }
    let proto = state.protocol.clone();
    let (user_id, role, sign_in) = (user.id, user.role, user.sign_in());
    let next = db::run_with(&state.pool, move |conn| {
        authorize::decide(conn, &proto, request, user_id, role, &sign_in)
    })
    .await;
    match next {
        Ok(Next::Redirect(location)) => Ok(see_other(&location)),
        Ok(Next::Consent(prompt)) => render(&ConsentPage::new(&user, *prompt)),
        Err(e) => answer_error(&state, e),
    }
}

/// The sign-in page for this request: it comes back to the request afterwards, its login
/// field starts with the `login_hint`, and with `again` it asks even a signed-in user.
fn sign_in_path(params: &Params, request: &AuthorizationRequest, again: bool) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("next", &resume_path(params));
    if let Some(hint) = &request.login_hint {
        query.append_pair("login_hint", hint);
    }
    if again {
        query.append_pair("again", "1");
    }
    format!("/login?{}", query.finish())
}

/// The authorization request as a local URL, to come back to after signing in.
fn resume_path(params: &Params) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            params
                .pairs()
                .iter()
                .filter(|(k, _)| k != "module" && k != "action"),
        )
        .finish();
    format!("/oauth2/authorize?{query}")
}

fn answer_error(state: &AppState, error: AuthorizeError) -> Result<HttpResponse, AppError> {
    match error {
        // Only the consent POST asks again, and it renders the screen itself.
        AuthorizeError::Page(message) | AuthorizeError::AskAgain { message, .. } => {
            Err(AppError::BadRequest(message))
        }
        AuthorizeError::Redirect(redirect) => {
            match authorize::error_location(&redirect, &state.protocol.issuer) {
                Ok(location) => Ok(see_other(&location)),
                Err(e) => answer_error(state, e),
            }
        }
        AuthorizeError::Protocol(OAuthError::Db(e)) => Err(e.into()),
        AuthorizeError::Protocol(other) => Err(AppError::Internal(other.to_string())),
    }
}

struct ScopeOption {
    value: &'static str,
    description: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "oauth/consent.html")]
pub struct ConsentPage {
    layout: Layout,
    client_name: String,
    description: String,
    homepage: Option<String>,
    privacy: Option<String>,
    terms: Option<String>,
    /// The uploaded icon's address on this server.
    icon: Option<String>,
    client_kind: &'static str,
    redirect_host: String,
    login: String,
    email: String,
    handle: String,
    options: Vec<ScopeOption>,
    /// What the OpenID Connect scopes tell the application, in plain words.
    identity_items: Vec<String>,
    /// Set when the preselected (least privileged) scope is below the highest requested.
    highest_requested: Option<&'static str>,
    /// The client registered itself (RFC 7591); no administrator has vetted it.
    self_registered: bool,
    /// The websites the grant may be limited to, and whether it was limited last time.
    sites: Vec<SiteOption>,
    limited: bool,
    /// A superuser's "all websites" includes the ones added later.
    superuser: bool,
    /// Set when an answer could not be accepted and the screen is shown again.
    errors: FieldErrors,
}

pub struct SiteOption {
    id: i64,
    name: String,
    url: String,
    checked: bool,
}

impl ConsentPage {
    pub fn new(user: &SessionUser, prompt: ConsentPrompt) -> Self {
        let highest = prompt.highest_requested;
        let least = prompt.offered.first().copied();
        let chosen = (prompt.chosen_scope)
            .filter(|s| prompt.offered.contains(s))
            .or(least);
        Self {
            layout: Layout::for_user(user, ""),
            self_registered: prompt.client.self_registered,
            client_kind: if prompt.client.is_confidential() {
                "Confidential (a server-side application that keeps a secret)"
            } else {
                "Public (a browser, mobile or desktop application without a secret)"
            },
            icon: (prompt.client.icon_updated_at).map(|t| {
                format!(
                    "/oauth2/clients/{}/icon?v={}",
                    prompt.client.client_id,
                    t.and_utc().timestamp()
                )
            }),
            privacy: prompt.client.privacy_url.clone(),
            terms: prompt.client.terms_url.clone(),
            client_name: prompt.client.name,
            description: prompt.client.description,
            homepage: prompt.client.homepage_url,
            // A device's request (RFC 8628) goes back nowhere: the device polls.
            redirect_host: if prompt.redirect_uri.is_empty() {
                "Nowhere: you continue on your device".to_string()
            } else {
                url::Url::parse(&prompt.redirect_uri)
                    .ok()
                    .and_then(|u| {
                        u.host_str()
                            .map(str::to_string)
                            .or(Some(u.scheme().to_string()))
                    })
                    .unwrap_or_default()
            },
            login: user.login.clone(),
            email: user.email.clone(),
            handle: prompt.handle,
            options: prompt
                .offered
                .iter()
                .map(|s| ScopeOption {
                    value: s.as_str(),
                    description: s.describe(),
                    checked: Some(*s) == chosen,
                })
                .collect(),
            highest_requested: highest.filter(|h| Some(*h) != least).map(|h| h.as_str()),
            identity_items: identity_items(user, prompt.identity),
            sites: (prompt.sites.into_iter())
                .map(|s| SiteOption {
                    checked: prompt.limit.allows(s.id) && prompt.limit.is_limited(),
                    id: s.id,
                    name: s.name,
                    url: s.main_url,
                })
                .collect(),
            limited: prompt.limit.is_limited(),
            superuser: user.role == crate::domain::Role::Superuser,
            errors: FieldErrors::default(),
        }
    }
}

/// One line per identity scope: what the application will learn.
fn identity_items(user: &SessionUser, identity: Identity) -> Vec<String> {
    identity
        .iter()
        .map(|scope| match scope {
            IdentityScope::OpenId => "A stable identifier of your account".to_string(),
            IdentityScope::Profile => format!("{}: {}", scope.consent_text(), user.login),
            IdentityScope::Email => format!("{}: {}", scope.consent_text(), user.email),
        })
        .collect()
}

#[post("/oauth2/consent")]
pub async fn consent(
    state: web::Data<AppState>,
    user: SessionUser,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let allow = match fields.text("decision").as_str() {
        "allow" => true,
        "deny" => false,
        _ => return Err(AppError::BadRequest("Choose Allow or Deny.".into())),
    };
    let request = fields.text("request");
    let choice = authorize::ConsentChoice {
        scope: fields.text("scope"),
        // "chosen": only the websites ticked; anything else (or no choice shown): all.
        sites: (fields.text("sites") == "chosen").then(|| fields.all("site")),
    };
    let proto = state.protocol.clone();
    let approver = authorize::Approver {
        id: user.id,
        login: user.login.clone(),
        role: user.role,
        sign_in: user.sign_in(),
    };
    let answer = db::run_with(&state.pool, move |conn| {
        authorize::answer(conn, &proto, &request, &approver, allow, &choice)
    })
    .await;
    match answer {
        Ok(location) => Ok(see_other(&location)),
        Err(AuthorizeError::AskAgain { prompt, message }) => {
            let mut page = ConsentPage::new(&user, *prompt);
            page.errors = FieldErrors::one("sites", message);
            render_form(&page.errors, &page)
        }
        Err(e) => answer_error(&state, e),
    }
}
