//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/openid-configuration`,
//! `/.well-known/oauth-protected-resource`
//! (RFC 9728) and `/oauth2/jwks`: bytes built once and rebuilt when the settings or the
//! keys change (`oauth::documents`).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};

use super::error_response;
use crate::db;
use crate::oauth::error::OAuthError;
use crate::web::state::AppState;

/// Serves a document from `build`, which reaches the database only when it must rebuild.
async fn document(
    state: &AppState,
    cache_control: &'static str,
    content_type: &'static str,
    build: impl FnOnce(&mut db::Lazy) -> Result<Bytes, OAuthError> + Send + 'static,
) -> HttpResponse {
    match db::run_lazy(&state.pool, build).await {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, cache_control))
            .content_type(content_type)
            .body(body),
        Err(e) => error_response(e),
    }
}

/// One document for OAuth 2.0 clients (RFC 8414) and OpenID Connect relying parties
/// (Discovery 1.0 §4), so the two never disagree.
#[actix_web::routes]
#[get("/.well-known/oauth-authorization-server")]
#[get("/.well-known/openid-configuration")]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let proto = state.protocol.clone();
    // Short: turning registration on or off changes the document.
    document(
        &state,
        "public, max-age=300",
        "application/json",
        move |db| proto.documents.metadata(db, &proto),
    )
    .await
}

#[get("/.well-known/oauth-protected-resource")]
pub async fn protected_resource(state: web::Data<AppState>) -> HttpResponse {
    let proto = state.protocol.clone();
    document(
        &state,
        "public, max-age=3600",
        "application/json",
        move |db| proto.documents.protected_resource(db, &proto),
    )
    .await
}

#[get("/oauth2/jwks")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let proto = state.protocol.clone();
    // Short enough that a rotated key is seen soon; clients refetch on an unknown kid.
    document(
        &state,
        "public, max-age=300",
        "application/jwk-set+json",
        move |db| proto.keys.jwks(db, proto.live.generation()),
    )
    .await
}
