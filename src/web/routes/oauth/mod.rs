//! The OAuth 2.0 endpoints, at clean paths and at Matomo's `index.php` addresses.
//! This module is the one place where `OAuthError` becomes HTTP.

pub mod authorize;
pub mod discovery;
pub mod endpoints;
pub mod logout;
pub mod matomo;
pub mod registration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;

/// Token, revocation and introspection requests are small; anything bigger is refused.
pub const MAX_BODY: usize = 16 * 1024;

pub use crate::web::error::{no_store_json, oauth_response as error_response};

/// Reads an `application/x-www-form-urlencoded` body of at most [`MAX_BODY`] bytes.
pub async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Params, OAuthError> {
    if !has_media_type(req, "application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let body = read_body(req, payload)
        .await
        .map_err(OAuthError::invalid_request)?;
    Ok(Params::parse(&body))
}

/// Whether the request's Content-Type is `media_type` (parameters such as charset aside).
pub fn has_media_type(req: &HttpRequest, media_type: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(media_type))
}

/// Reads a request body of at most [`MAX_BODY`] bytes, refusing a larger declared length
/// before reading; the error says why, for the caller's own error type.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::BytesMut, String> {
    let too_big = || "The request body is larger than 16 KiB.".to_string();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_big());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| format!("Could not read the body: {e}"))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The Authorization header, if any and if it is text.
pub fn authorization(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// 405 for anything but POST on the POST-only endpoints.
pub async fn post_only() -> HttpResponse {
    let mut response = no_store_json(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({
            "error": "invalid_request",
            "error_description": "Use POST with an application/x-www-form-urlencoded body.",
        }),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}
