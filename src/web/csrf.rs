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
            check_token(&req, &sent)?;
            serde_urlencoded::from_bytes::<T>(&body)
                .map(CsrfForm)
                .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}")))
        })
    }
}

/// Refuses unless `sent` is the session's token (compared in constant time).
fn check_token(req: &HttpRequest, sent: &str) -> Result<(), AppError> {
    let expected = req
        .get_session()
        .get::<String>(super::session::CSRF)
        .ok()
        .flatten();
    let valid = expected
        .is_some_and(|e| !sent.is_empty() && bool::from(e.as_bytes().ct_eq(sent.as_bytes())));
    if !valid {
        tracing::info!(path = %req.path(), "refused a POST without a valid CSRF token");
        return Err(AppError::CsrfRejected);
    }
    Ok(())
}

/// A `multipart/form-data` form (a file upload) whose CSRF token matched: its text fields,
/// and its one file, read up to [`UPLOAD_LIMIT`] bytes; a longer file is marked, not read.
pub struct CsrfUpload {
    pub fields: crate::web::routes::form::Fields,
    pub file: Vec<u8>,
    /// The file was longer than [`UPLOAD_LIMIT`].
    pub too_large: bool,
}

/// The largest file an upload reads (a client's icon is at most 64 KB).
pub const UPLOAD_LIMIT: usize = 64 * 1024;
/// A text part of an upload form (the token, a password) is at most this long.
const TEXT_PART_LIMIT: usize = 4096;

impl FromRequest for CsrfUpload {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let multipart = actix_multipart::Multipart::new(req.headers(), payload.take());
        Box::pin(async move {
            check_same_site(&req)?;
            let upload = read_upload(multipart).await?;
            check_token(&req, &upload.fields.text(FIELD))?;
            Ok(upload)
        })
    }
}

async fn read_upload(mut multipart: actix_multipart::Multipart) -> Result<CsrfUpload, AppError> {
    use futures_util::StreamExt;
    let unreadable = || AppError::BadRequest("The upload could not be read.".into());
    let (mut pairs, mut file, mut too_large) = (Vec::new(), Vec::new(), false);
    // A file over the limit is read on (and dropped) up to this much, so that the browser
    // hears the answer rather than a closed connection; past it the body is refused.
    let mut discarded = 0usize;
    while let Some(part) = multipart.next().await {
        let mut part = part.map_err(|_| unreadable())?;
        let disposition = part.content_disposition();
        let is_file = disposition.and_then(|d| d.get_filename()).is_some();
        let name = (disposition.and_then(|d| d.get_name()))
            .unwrap_or_default()
            .to_string();
        let limit = if is_file {
            UPLOAD_LIMIT
        } else {
            TEXT_PART_LIMIT
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            if bytes.len() + chunk.len() <= limit {
                bytes.extend_from_slice(&chunk);
                continue;
            }
            if !is_file {
                return Err(AppError::BadRequest("A form field is too long.".into()));
            }
            too_large = true;
            discarded += chunk.len();
            if discarded > 16 * UPLOAD_LIMIT {
                return Err(AppError::BadRequest(
                    "The file is far larger than 64 KB.".into(),
                ));
            }
        }
        match is_file {
            true if !too_large => file = bytes,
            true => {}
            false => pairs.push((name, String::from_utf8(bytes).map_err(|_| unreadable())?)),
        }
    }
    Ok(CsrfUpload {
        fields: crate::web::routes::form::Fields::from_pairs(pairs),
        file,
        too_large,
    })
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
