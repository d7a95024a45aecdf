//! Token (RFC 6749 §3.2), revocation (RFC 7009) and introspection (RFC 7662): form POSTs
//! from clients, answered in JSON.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{authorization, error_response, no_store_json, read_form};
use crate::db;
use crate::oauth::{introspection, revocation, tokens};
use crate::startup::AppState;

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match read_form(&req, payload).await {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    let auth = authorization(&req);
    let proto = state.protocol.clone();
    match db::run_with(&state.pool, move |conn| {
        tokens::exchange(conn, &proto, auth.as_deref(), &params)
    })
    .await
    {
        Ok(response) => no_store_json(StatusCode::OK, &response),
        Err(e) => error_response(e),
    }
}

pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match read_form(&req, payload).await {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    let auth = authorization(&req);
    let proto = state.protocol.clone();
    match db::run_with(&state.pool, move |conn| {
        revocation::revoke(conn, &proto, auth.as_deref(), &params)
    })
    .await
    {
        Ok(()) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        Err(e) => error_response(e),
    }
}

pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match read_form(&req, payload).await {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    let auth = authorization(&req);
    let proto = state.protocol.clone();
    match db::run_with(&state.pool, move |conn| {
        introspection::introspect(conn, &proto, auth.as_deref(), &params)
    })
    .await
    {
        Ok(body) => no_store_json(StatusCode::OK, &body),
        Err(e) => error_response(e),
    }
}
