//! `/oauth2/logout`: OpenID Connect RP-initiated logout 1.0 (the `end_session_endpoint`).
//! A signed-in user whom the `id_token_hint` names is signed out at once; anyone else
//! signed in is asked first, on a page whose form carries a CSRF token.

use actix_session::SessionExt;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use askama::Template;
use serde::Deserialize;

use super::read_form;
use crate::db;
use crate::oauth::error::OAuthError;
use crate::oauth::logout::{self, LogoutRequest};
use crate::oauth::params::Params;
use crate::web::csrf::{self, CsrfForm};
use crate::web::error::AppError;
use crate::web::routes::login::sign_out;
use crate::web::routes::page::{Layout, render, see_other};
use crate::web::session::SessionUser;
use crate::web::state::AppState;

/// The parameters the confirmation form carries back.
const CARRIED: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

#[derive(Template)]
#[template(path = "oauth/logout.html")]
struct ConfirmPage {
    layout: Layout,
    client_name: Option<String>,
    carried: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "oauth/logged_out.html")]
struct SignedOutPage {
    layout: Layout,
}

pub async fn end_session_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = Params::parse(req.query_string().as_bytes());
    end_session(req, state, params).await
}

/// A logout form posted from the application's site carries no session cookie (it is
/// `SameSite=Lax`), so nobody could be signed out or asked: the browser is sent on to the
/// same request as a GET, which a top-level navigation makes with the cookie.
pub async fn end_session_post(
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let params = read_form(&req, payload)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.pairs())
        .finish();
    Ok(see_other(&format!("/oauth2/logout?{query}")))
}

async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, AppError> {
    let request = checked(&state, params.clone()).await?;
    match SessionUser::extract(&req).await {
        Ok(user)
            if request
                .hint
                .as_ref()
                .is_some_and(|h| h.subject == user.subject) =>
        {
            sign_out(&req, &req.get_session(), &state, &user).await?;
            finished(&request, &req)
        }
        Ok(user) => render(&ConfirmPage {
            layout: Layout::for_user(&user, ""),
            client_name: request.client.map(|c| c.name),
            carried: CARRIED
                .into_iter()
                .filter_map(|name| params.get(name).map(|v| (name, v.to_string())))
                .collect(),
        }),
        Err(AppError::SignInRequired { .. }) => finished(&request, &req),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// The user confirmed: the request is checked again, then they are signed out.
#[post("/oauth2/logout/confirm")]
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: SessionUser,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let pairs: Vec<(&str, Option<String>)> = vec![
        ("id_token_hint", form.id_token_hint),
        ("client_id", form.client_id),
        ("post_logout_redirect_uri", form.post_logout_redirect_uri),
        ("state", form.state),
    ];
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v))),
        )
        .finish();
    let request = checked(&state, Params::parse(query.as_bytes())).await?;
    sign_out(&req, &req.get_session(), &state, &user).await?;
    finished(&request, &req)
}

/// The checked request, or the page that refuses it.
async fn checked(state: &AppState, params: Params) -> Result<LogoutRequest, AppError> {
    let proto = state.protocol.clone();
    let checked = db::run_with(&state.pool, move |conn| {
        logout::validate(conn, &proto, &params)
    })
    .await;
    match checked {
        Ok(Ok(request)) => Ok(request),
        Ok(Err(refusal)) => Err(AppError::BadRequest(refusal)),
        Err(OAuthError::Db(e)) => Err(e.into()),
        Err(other) => Err(AppError::Internal(other.to_string())),
    }
}

/// Back to the application, or a page that says the user is signed out.
fn finished(request: &LogoutRequest, req: &HttpRequest) -> Result<HttpResponse, AppError> {
    match &request.redirect {
        Some(to) => Ok(see_other(to)),
        None => render(&SignedOutPage {
            layout: Layout::anonymous(csrf::token(&req.get_session())?),
        }),
    }
}
