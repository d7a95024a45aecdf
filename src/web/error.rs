//! The web layer's error type and its one mapping to HTTP. Pages get an HTML page, API
//! callers (`Accept: application/json`) a JSON body; causes are logged, never shown.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::db::DbError;
use crate::web::routes::page::Layout;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not signed in: send the browser to the sign-in page and back to `next` afterwards.
    #[error("sign-in required")]
    SignInRequired { next: String },
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
            AppError::SignInRequired { .. } => StatusCode::SEE_OTHER,
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
            AppError::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            AppError::Internal(cause) => tracing::error!(error = %cause, "request failed"),
            _ => {}
        }
        error_page(self.status_code(), &self.to_string(), false)
    }
}

/// Renders an error as HTML, or as `{"error": ...}` when `json` is set.
pub fn error_page(status: StatusCode, message: &str, json: bool) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        builder.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
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
