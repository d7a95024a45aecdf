//! `/index.php?module=OAuth2&action=…` and `/index.php?module=API&method=…`: Matomo's
//! addresses for the same endpoints, so clients written for Matomo work unchanged.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{authorize, endpoints, post_only};
use crate::oauth::params::Params;
use crate::web::error::AppError;
use crate::web::routes::api::{self, Body};
use crate::web::state::AppState;

pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let query = Params::parse(req.query_string().as_bytes());
    let post = req.method() == Method::POST;
    let target = (query.get("module"), query.get("action"));
    Ok(match target {
        (Some("OAuth2"), Some("authorize")) if post => {
            return authorize::authorize_post(req, payload, state).await;
        }
        (Some("OAuth2"), Some("authorize")) if req.method() == Method::GET => {
            return authorize::authorize(req, state, query).await;
        }
        (Some("OAuth2"), Some("token")) if post => endpoints::token(req, payload, state).await,
        (Some("OAuth2"), Some("revoke")) if post => endpoints::revoke(req, payload, state).await,
        (Some("OAuth2"), Some("device_authorization")) if post => {
            endpoints::device_authorization(req, payload, state).await
        }
        (Some("OAuth2"), Some("introspect")) if post => {
            endpoints::introspect(req, payload, state).await
        }
        (Some("OAuth2"), Some("register")) if post => {
            super::registration::register(req, payload, state).await
        }
        (
            Some("OAuth2"),
            Some("token" | "revoke" | "introspect" | "register" | "device_authorization"),
        ) => post_only().await,
        (Some("API"), _) => api::call(req, Body::Unread(payload), state, None).await,
        // Matomo also takes `module=API` (with the method and its parameters) in a POST body.
        (None, _) if post && super::has_media_type(&req, "application/x-www-form-urlencoded") => {
            let body = super::read_form(&req, payload)
                .await
                .map_err(|e| AppError::BadRequest(e.to_string()))?;
            match body.get("module") {
                Some("API") => api::call(req, Body::Read(body), state, None).await,
                _ => return Err(AppError::NotFound),
            }
        }
        _ => return Err(AppError::NotFound),
    })
}
