//! CSRF protection for every cookie-authenticated POST: a synchronizer token stored in the
//! session and echoed in a hidden form field (compared in constant time), plus a refusal of
//! requests whose `Origin` or `Sec-Fetch-Site` shows they come from another site.

use actix_session::{Session, SessionExt};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::web::error::AppError;
use crate::web::state::AppState;

/// The name of the hidden form field.
pub const FIELD: &str = "csrf_token";

/// Returns the session's CSRF token, creating one for a visitor who has none yet (the
/// sign-in form needs one before anyone is signed in).
pub fn token(session: &Session) -> Result<String, AppError> {
    if let Some(existing) = session.get::<String>(super::session::CSRF).ok().flatten() {
        return Ok(existing);
    }
    let fresh = crate::auth::random_token(32);
    session
        .insert(super::session::CSRF, fresh.clone())
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(fresh)
}

#[derive(Deserialize)]
struct TokenField {
    csrf_token: Option<String>,
}

/// A url-encoded form whose CSRF token matched; the handler never runs otherwise.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            check_same_site(&req)?;
            let is_form = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            // A body that is not a form cannot carry the token: refused like a wrong one.
            if !is_form {
                return Err(AppError::CsrfRejected);
            }
            let body = body
                .await
                .map_err(|_| AppError::BadRequest("The form is too large.".into()))?;
            let sent = serde_urlencoded::from_bytes::<TokenField>(&body)
                .ok()
                .and_then(|f| f.csrf_token)
                .unwrap_or_default();
            let expected = req
                .get_session()
                .get::<String>(super::session::CSRF)
                .ok()
                .flatten();
            let valid = expected.is_some_and(|e| {
                !sent.is_empty() && bool::from(e.as_bytes().ct_eq(sent.as_bytes()))
            });
            if !valid {
                tracing::info!(path = %req.path(), "refused a POST without a valid CSRF token");
                return Err(AppError::CsrfRejected);
            }
            serde_urlencoded::from_bytes::<T>(&body)
                .map(CsrfForm)
                .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}")))
        })
    }
}

/// Refuses requests that a browser marks as cross-site. Non-browser clients send neither
/// header and are still bound by the token.
fn check_same_site(req: &HttpRequest) -> Result<(), AppError> {
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site" || v == "same-site")
    {
        return Err(AppError::CsrfRejected);
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let expected = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.config.public_origin())
            .unwrap_or_default();
        // With `Referrer-Policy: no-referrer` browsers send `Origin: null` on same-origin
        // form posts; Sec-Fetch-Site and the token still decide those.
        if origin != "null" && origin != expected {
            return Err(AppError::CsrfRejected);
        }
    }
    Ok(())
}
