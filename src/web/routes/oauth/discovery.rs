//! `/.well-known/oauth-authorization-server` (RFC 8414), `/.well-known/oauth-protected-resource`
//! (RFC 9728) and `/oauth2/jwks`.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use super::error_response;
use crate::db;
use crate::oauth::error::OAuthError;
use crate::oauth::metadata as server_metadata;
use crate::oauth::settings::Settings;
use crate::web::state::AppState;

#[get("/.well-known/oauth-authorization-server")]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let issuer = state.protocol.issuer.clone();
    match db::run_with(&state.pool, |conn| {
        Settings::load(conn).map_err(OAuthError::from)
    })
    .await
    {
        // Short: turning registration on or off changes the document.
        Ok(settings) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .json(server_metadata::document(&issuer, &settings)),
        Err(e) => error_response(e),
    }
}

#[get("/.well-known/oauth-protected-resource")]
pub async fn protected_resource(state: web::Data<AppState>) -> HttpResponse {
    let proto = state.protocol.clone();
    match db::run_with(&state.pool, |conn| {
        Settings::load(conn).map_err(OAuthError::from)
    })
    .await
    {
        Ok(settings) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .json(server_metadata::protected_resource(
                &proto.audience,
                &proto.issuer,
                &settings,
            )),
        Err(e) => error_response(e),
    }
}

#[get("/oauth2/jwks")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let proto = state.protocol.clone();
    match db::run_with(&state.pool, move |conn| proto.keys.jwks(conn)).await {
        // Short enough that a rotated key is seen soon; clients refetch on an unknown kid.
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .content_type("application/jwk-set+json")
            .body(body.to_string()),
        Err(e) => error_response(e),
    }
}
