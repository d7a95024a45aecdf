//! The one place where errors become HTTP: the console's `AppError` (an HTML page, or JSON
//! for `Accept: application/json`), the OAuth endpoints' JSON (RFC 6749 §5.2), dynamic
//! registration's (RFC 7591) and the API's (RFC 6750 challenges). The 503-with-`Retry-After`
//! and 500 rules are written once ([`Fault`]); causes are logged, never shown.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::api::ApiError;
use crate::auth::accounts::AccountError;
use crate::db::DbError;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::registration::RegistrationError;
use crate::sites::SiteError;
use crate::web::routes::page::Layout;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not signed in: send the browser to the sign-in page and back to `next` afterwards.
    #[error("sign-in required")]
    SignInRequired { next: String },
    /// Signed in, but this role must have a second factor first: to the enrolment page.
    #[error("set up two-factor authentication first")]
    SecondFactorRequired,
    #[error("you do not have access to this page")]
    Forbidden,
    #[error("this form has expired or was sent from another site; reload the page and try again")]
    CsrfRejected,
    #[error("page not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("the service is temporarily unavailable; try again in a moment")]
    Unavailable(#[source] DbError),
    /// Every password-hashing slot stayed busy: 503 before any hashing was done.
    #[error("the server is busy checking other passwords; try again in a moment")]
    Busy,
    #[error("something went wrong on our side; the error was logged")]
    Internal(String),
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            e if e.is_transient() => AppError::Unavailable(e),
            // A row deleted while this request used it: the page it was about is gone.
            DbError::Vanished(_) => AppError::NotFound,
            e => AppError::Internal(e.to_string()),
        }
    }
}

impl From<crate::oauth::clients::ClientError> for AppError {
    fn from(e: crate::oauth::clients::ClientError) -> Self {
        use crate::oauth::clients::ClientError;
        match e {
            ClientError::UnknownClient(_) => AppError::NotFound,
            ClientError::Invalid { message, .. } => AppError::BadRequest(message),
            ClientError::Db(e) => e.into(),
        }
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::UnknownLogin(_) => AppError::NotFound,
            AccountError::Db(e) => e.into(),
            other => AppError::BadRequest(other.to_string()),
        }
    }
}

impl From<SiteError> for AppError {
    fn from(e: SiteError) -> Self {
        match e {
            SiteError::UnknownSite(_) | SiteError::UnknownUser(_) => AppError::NotFound,
            SiteError::Superuser(_) => AppError::BadRequest(e.to_string()),
            SiteError::Db(e) => e.into(),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(format!("template rendering failed: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    message: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::SignInRequired { .. } | AppError::SecondFactorRequired => {
                StatusCode::SEE_OTHER
            }
            AppError::Forbidden | AppError::CsrfRejected => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unavailable(_) | AppError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::SignInRequired { next } => {
                let location = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish();
            }
            AppError::SecondFactorRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, crate::web::session::ENROLMENT_PATH))
                    .finish();
            }
            AppError::Unavailable(cause) => {
                Fault::of(cause, "page");
            }
            AppError::Internal(cause) => {
                Fault::internal(cause, "page");
            }
            _ => {}
        }
        error_page(self.status_code(), &self.to_string(), false)
    }
}

/// Renders an error as HTML, or as `{"error": ...}` when `json` is set.
pub fn error_page(status: StatusCode, message: &str, json: bool) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        builder.insert_header((
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        ));
    }
    if json {
        return builder.json(serde_json::json!({ "error": message }));
    }
    let title = status.canonical_reason().unwrap_or("Error");
    let page = ErrorPage {
        layout: Layout::anonymous(String::new()),
        status: status.as_u16(),
        title,
        message: message.to_string(),
    };
    match page.render() {
        Ok(body) => builder.content_type("text/html; charset=utf-8").body(body),
        Err(_) => builder
            .content_type("text/plain; charset=utf-8")
            .body(message.to_string()),
    }
}

/// Whether the caller prefers JSON to HTML.
pub fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

/// What a failure that is not the caller's fault becomes, in every format: 503 with
/// `Retry-After` when it may pass (the database is away, slow or locked, or a race was
/// lost too often), 500 otherwise. The cause is logged here, never shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Unavailable,
    Internal,
}

/// Seconds a client is told to wait after a 503.
pub const RETRY_AFTER_SECS: &str = "5";

impl Fault {
    /// Classifies and logs a database error met while serving `what`.
    pub fn of(error: &DbError, what: &str) -> Self {
        if error.is_transient() {
            tracing::warn!(error = %error, class = error.class(), "{what}: database unavailable");
            Fault::Unavailable
        } else {
            tracing::error!(error = %error, class = error.class(), "{what} failed");
            Fault::Internal
        }
    }

    /// Logs an internal error met while serving `what`.
    pub fn internal(cause: &dyn std::fmt::Display, what: &str) -> Self {
        tracing::error!(error = %cause, "{what} failed");
        Fault::Internal
    }

    pub fn status(self) -> StatusCode {
        match self {
            Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The protocol error code (RFC 6749 §4.1.2.1 names both).
    pub fn code(self) -> &'static str {
        match self {
            Fault::Unavailable => "temporarily_unavailable",
            Fault::Internal => "server_error",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Fault::Unavailable => "The service is temporarily unavailable; try again in a moment.",
            Fault::Internal => "Something went wrong on our side; the error was logged.",
        }
    }

    /// Sets `Retry-After` on a 503.
    pub fn headers(self, response: &mut HttpResponse) {
        if self == Fault::Unavailable {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
    }
}

/// A JSON answer that no cache may keep (RFC 6749 §5.1).
pub fn no_store_json(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// `{"error": ..., "error_description": ...}` with `Cache-Control: no-store`.
fn oauth_json(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    no_store_json(
        status,
        &serde_json::json!({ "error": code, "error_description": description }),
    )
}

fn fault_json(fault: Fault) -> HttpResponse {
    let mut response = oauth_json(fault.status(), fault.code(), fault.message());
    fault.headers(&mut response);
    response
}

/// Sets `Retry-After` to `seconds` (the throttles' answers).
pub fn retry_after(response: &mut HttpResponse, seconds: i64) {
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

/// The token, revocation, introspection and discovery endpoints (RFC 6749 §5.2): 400, or
/// 401 with a Basic challenge for `invalid_client`; 429 when throttled.
pub fn oauth_response(error: OAuthError) -> HttpResponse {
    match &error {
        OAuthError::Protocol { code, description } => {
            if *code == ErrorCode::InvalidClient {
                let mut response = oauth_json(StatusCode::UNAUTHORIZED, code.as_str(), description);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"consentry\""),
                );
                response
            } else {
                oauth_json(StatusCode::BAD_REQUEST, code.as_str(), description)
            }
        }
        OAuthError::Throttled { retry_after: secs } => {
            let mut response = oauth_json(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many attempts from this client or address; wait for the Retry-After seconds.",
            );
            retry_after(&mut response, *secs);
            response
        }
        OAuthError::Db(cause) => fault_json(Fault::of(cause, "OAuth request")),
        OAuthError::Internal(cause) => fault_json(Fault::internal(cause, "OAuth request")),
    }
}

/// Dynamic client registration (RFC 7591 §3.2.2), with RFC 6750 challenges for the
/// initial access token.
pub fn registration_response(error: RegistrationError) -> HttpResponse {
    let (status, code) = match &error {
        RegistrationError::Disabled => (StatusCode::NOT_FOUND, "not_found"),
        RegistrationError::InvalidRedirectUri(_) => {
            (StatusCode::BAD_REQUEST, "invalid_redirect_uri")
        }
        RegistrationError::InvalidClientMetadata(_) => {
            (StatusCode::BAD_REQUEST, "invalid_client_metadata")
        }
        RegistrationError::InvalidToken(_) => (StatusCode::UNAUTHORIZED, "invalid_token"),
        RegistrationError::MissingToken => (StatusCode::UNAUTHORIZED, "invalid_request"),
        RegistrationError::RateLimited { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
        }
        RegistrationError::Db(cause) => return fault_json(Fault::of(cause, "registration")),
    };
    let mut response = oauth_json(status, code, &error.to_string());
    let challenge = match &error {
        RegistrationError::MissingToken => Some("Bearer realm=\"consentry\""),
        RegistrationError::InvalidToken(_) => {
            Some("Bearer realm=\"consentry\", error=\"invalid_token\"")
        }
        _ => None,
    };
    if let Some(challenge) = challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if let RegistrationError::RateLimited { retry_after: secs } = &error {
        retry_after(&mut response, *secs);
    }
    response
}

/// The analytics API: Matomo's `{"result":"error","message":...}` body, with RFC 6750
/// challenges that name the protected resource metadata (RFC 9728 §5.1).
pub fn api_response(error: ApiError, resource: &str) -> HttpResponse {
    let realm = format!(
        "{}, resource_metadata=\"{}\"",
        crate::web::routes::api::REALM,
        crate::web::routes::api::resource_metadata_url(resource)
    );
    bearer_response(
        error,
        &realm,
        |error, _| serde_json::json!({ "result": "error", "message": error.to_string() }),
    )
}

/// The userinfo endpoint's refusals: the same statuses and challenges as the API, with an
/// OAuth 2.0 error body (OpenID Connect Core 1.0 §5.3.3).
pub fn userinfo_response(error: ApiError) -> HttpResponse {
    bearer_response(error, crate::web::routes::api::REALM, |error, code| {
        serde_json::json!({
            "error": code.unwrap_or("invalid_request"),
            "error_description": error.to_string(),
        })
    })
}

/// A protected resource's refusal: the status, the RFC 6750 challenge after `realm`, and
/// the body `body` makes of the error and its RFC 6750 code.
fn bearer_response(
    error: ApiError,
    realm: &str,
    body: impl Fn(&ApiError, Option<&str>) -> serde_json::Value,
) -> HttpResponse {
    use crate::web::routes::api::quoted;
    let bearer = |rest: String| Some(format!("{realm}{rest}"));
    let (status, code, challenge) = match &error {
        ApiError::NoToken => (StatusCode::UNAUTHORIZED, None, bearer(String::new())),
        ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, None, None),
        ApiError::TokenInRequest | ApiError::MalformedAuthorization => (
            StatusCode::BAD_REQUEST,
            Some("invalid_request"),
            bearer(format!(
                ", error=\"invalid_request\", error_description=\"{}\"",
                quoted(&error.to_string())
            )),
        ),
        ApiError::InvalidToken(why) => (
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            bearer(format!(
                ", error=\"invalid_token\", error_description=\"{}\"",
                quoted(why)
            )),
        ),
        ApiError::InsufficientScope { needed, .. } => (
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            bearer(format!(
                ", error=\"insufficient_scope\", scope=\"{needed}\""
            )),
        ),
        ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, Some("invalid_request"), None),
        ApiError::Db(cause) => return api_fault(Fault::of(cause, "API call")),
        ApiError::Internal(cause) => return api_fault(Fault::internal(cause, "API call")),
    };
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(challenge) = challenge {
        response.insert_header((header::WWW_AUTHENTICATE, challenge));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response.insert_header((header::ALLOW, "GET, POST"));
    }
    response.json(body(&error, code))
}

fn api_fault(fault: Fault) -> HttpResponse {
    let mut response = HttpResponse::build(fault.status())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "result": "error", "message": fault.message() }));
    fault.headers(&mut response);
    response
}
