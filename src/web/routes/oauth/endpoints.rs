//! Token (RFC 6749 §3.2), revocation (RFC 7009) and introspection (RFC 7662): form POSTs
//! from clients, answered in JSON.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{authorization, error_response, no_store_json, read_form};
use crate::db;
use crate::oauth::client_auth::Caller;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oauth::{Protocol, device, introspection, revocation, tokens};
use crate::telemetry::metrics;
use crate::web::routes::client_ip::client_ip;
use crate::web::state::AppState;

/// Reads the form, then runs `call` with the protocol state, the Authorization header and
/// the parameters: first right here on the worker with memory only (a warm token request,
/// introspection or check costs no thread hop), and again off the worker with a lazy
/// connection if it needs the database or slow work (`db::run_memory_first`).
async fn call_with_form<T, F>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    call: F,
) -> Result<T, OAuthError>
where
    F: Fn(&mut db::Lazy, &Protocol, &Caller, &Params) -> Result<T, OAuthError>
        + Clone
        + Send
        + 'static,
    T: Send + 'static,
{
    let params = read_form(req, payload).await?;
    let caller = Caller {
        authorization: authorization(req),
        ip: client_ip(req),
    };
    let proto = state.protocol.clone();
    db::run_memory_first(&state.pool, move |db: &mut db::Lazy| {
        call(db, &proto, &caller, &params)
    })
    .await
}

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let exchanged = call_with_form(&req, payload, &state, tokens::exchange).await;
    // A client-credentials token waits here for its batch's commit, holding no thread.
    match async { exchanged?.committed().await }.await {
        Ok(response) => no_store_json(StatusCode::OK, &response),
        Err(e) => error_response(e),
    }
}

/// RFC 8628 §3.1: a device asks for its codes.
pub async fn device_authorization(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match call_with_form(&req, payload, &state, device::start).await {
        Ok(body) => no_store_json(StatusCode::OK, &body),
        Err(e) => error_response(e),
    }
}

pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match call_with_form(&req, payload, &state, revocation::revoke).await {
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
    match call_with_form(&req, payload, &state, introspection::introspect).await {
        Ok(body) => {
            metrics::introspection(body["active"] == true);
            no_store_json(StatusCode::OK, &body)
        }
        Err(e) => error_response(e),
    }
}
