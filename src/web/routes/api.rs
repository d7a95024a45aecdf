//! `/index.php?module=API&method=…` and `/api/{method}`: the protected analytics API, JSON
//! only. This module is the one place where `ApiError` becomes HTTP: RFC 6750 challenges in
//! `WWW-Authenticate` and a Matomo-shaped body, `{"result":"error","message":…}`.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::{self, ApiError};
use crate::audit::Actor;
use crate::db;
use crate::oauth::params::Params;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::oauth::read_form;
use crate::web::state::AppState;

pub(crate) const REALM: &str = "Bearer realm=\"consentry\"";

/// `/api/{method}`.
pub async fn by_path(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    method: web::Path<String>,
) -> HttpResponse {
    call(req, Body::Unread(payload), state, Some(method.into_inner())).await
}

/// A request's form body: still to be read, or already read (by `index.php`, to find
/// `module=API` in it, as Matomo accepts).
pub enum Body {
    Unread(web::Payload),
    Read(Params),
}

/// Answers one API call, GET or POST; `method` comes from the path or the parameters.
pub async fn call(
    req: HttpRequest,
    body: Body,
    state: web::Data<AppState>,
    method: Option<String>,
) -> HttpResponse {
    match answer(&req, body, &state, method).await {
        Ok(value) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(value),
        Err(e) => crate::web::error::api_response(e, &state.protocol.audience),
    }
}

/// `/oauth2/userinfo` (OpenID Connect Core 1.0 §5.3), GET or POST: a protected resource
/// with the API's token rules, answering the OAuth 2.0 way (`error` in a JSON body and the
/// RFC 6750 challenge).
pub async fn userinfo(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let answer = async {
        let (token, _) = bearer_request(&req, Body::Unread(payload)).await?;
        let proto = state.protocol.clone();
        db::run_memory_first(&state.pool, move |db: &mut db::Lazy| {
            api::userinfo::claims(db, &proto, &token)
        })
        .await
    };
    match answer.await {
        Ok(value) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(value),
        Err(e) => crate::web::error::userinfo_response(e),
    }
}

/// The bearer token and the parameters (query, and a form body on POST) of a request to
/// a protected resource, in RFC 6750 §3.1's order: a token where it must not be is
/// refused first, then a missing or malformed header gets its challenge.
async fn bearer_request(req: &HttpRequest, body: Body) -> Result<(String, Params), ApiError> {
    if req.method() != Method::GET && req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let mut params = Params::parse(req.query_string().as_bytes());
    match body {
        Body::Read(body) => params = params.and(body),
        Body::Unread(payload) if req.method() == Method::POST && has_body(req) => {
            let body = read_form(req, payload).await.map_err(|e| match e {
                crate::oauth::error::OAuthError::Protocol { description, .. } => {
                    ApiError::BadRequest(description)
                }
                other => ApiError::Internal(other.to_string()),
            })?;
            params = params.and(body);
        }
        Body::Unread(_) => {}
    }
    if params.count("token_auth") > 0 || params.count("access_token") > 0 {
        return Err(ApiError::TokenInRequest);
    }
    Ok((bearer(req)?, params))
}

async fn answer(
    req: &HttpRequest,
    body: Body,
    state: &AppState,
    method: Option<String>,
) -> Result<serde_json::Value, ApiError> {
    // Only once the token is where it belongs are the parameters judged.
    let (token, params) = bearer_request(req, body).await?;
    if let Some(name) = params.repeated() {
        return Err(ApiError::bad_parameter(name, "is repeated"));
    }
    if let Some(format) = params.get("format")
        && !format.eq_ignore_ascii_case("json")
    {
        return Err(ApiError::bad_parameter(
            "format",
            "only format=json is supported",
        ));
    }
    let method = method
        .or_else(|| params.get("method").map(str::to_string))
        .ok_or_else(|| {
            ApiError::bad_parameter("method", "is required, such as API.getConsentryVersion")
        })?;
    let proto = state.protocol.clone();
    let ip = client_ip(req);
    // The token is checked from memory, and the reads answered from it, right here on the
    // worker when it is warm; a method that needs the database runs off the worker.
    db::run_memory_first(&state.pool, move |db: &mut db::Lazy| {
        let caller = api::caller::authenticate(db, &proto, &token)?;
        let actor = Actor::new(&caller.login).from_ip(ip.as_str());
        api::methods::call(db, &caller, &actor, &method, &params)
    })
    .await
}

fn has_body(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|n| n > 0)
        && req.headers().contains_key(header::CONTENT_TYPE)
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is
/// case-insensitive).
fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::NoToken);
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::NoToken);
    }
    if token.is_empty() || token.contains(' ') {
        return Err(malformed());
    }
    Ok(token.to_string())
}

fn malformed() -> ApiError {
    ApiError::MalformedAuthorization
}

/// Quotes a value for a `WWW-Authenticate` parameter.
pub(crate) fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect()
}

/// Where a client discovers this API's authorization server (RFC 9728).
pub fn resource_metadata_url(resource: &str) -> String {
    format!("{resource}/.well-known/oauth-protected-resource")
}
