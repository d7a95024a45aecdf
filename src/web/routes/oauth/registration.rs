//! `POST /oauth2/register` (and Matomo's `action=register`): RFC 7591, JSON in and out.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{has_media_type, no_store_json, read_body};
use crate::db;
use crate::oauth::registration::{self, RegistrationError};
use crate::oauth::settings::Settings;
use crate::web::routes::client_ip::client_ip;
use crate::web::state::AppState;

pub async fn register(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match handle(&req, payload, &state).await {
        Ok(body) => no_store_json(StatusCode::CREATED, &body),
        Err(e) => crate::web::error::registration_response(e),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<serde_json::Value, RegistrationError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let ip = client_ip(req);
    // Admission first (switch, token or rate limit), so a refused caller's body is never read.
    let (b, i) = (bearer.clone(), ip.clone());
    let bearer = bearer.clone();
    let settings = db::run_with(&state.pool, move |conn| {
        let settings = Settings::load(conn)?;
        registration::admit(conn, &settings, b.as_deref(), &i)?;
        Ok::<_, RegistrationError>(settings)
    })
    .await?;
    let metadata = read_json(req, payload).await?;
    let registered = db::run_with(&state.pool, move |conn| {
        registration::register(conn, &settings, &metadata, bearer.as_deref(), &ip)
    })
    .await?;
    Ok(registered.body)
}

async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<serde_json::Value, RegistrationError> {
    let bad = |m: &str| RegistrationError::InvalidClientMetadata(m.to_string());
    if !has_media_type(req, "application/json") {
        return Err(bad("Send the client metadata as application/json."));
    }
    let body = read_body(req, payload)
        .await
        .map_err(RegistrationError::InvalidClientMetadata)?;
    serde_json::from_slice(&body).map_err(|e| bad(&format!("The body is not valid JSON: {e}")))
}
