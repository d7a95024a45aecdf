//! Token (RFC 6749 §3.2), revocation (RFC 7009) and introspection (RFC 7662): form POSTs
//! from clients, answered in JSON.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{authorization, error_response, no_store_json, read_form};
use crate::db;
use crate::oauth::client_auth::Caller;
use crate::oauth::error::OAuthError;
use crate::oauth::params::Params;
use crate::oauth::{Protocol, introspection, revocation, tokens};
use crate::web::routes::client_ip::client_ip;
use crate::web::state::AppState;

/// Reads the form, then runs `call` with a lazy connection, the protocol state, the
/// Authorization header and the parameters, off the actix worker.
async fn call_with_form<T, F>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    call: F,
) -> Result<T, OAuthError>
where
    F: FnOnce(&mut db::Lazy, &Protocol, &Caller, &Params) -> Result<T, OAuthError> + Send + 'static,
    T: Send + 'static,
{
    let (caller, params) = read_call(req, payload).await?;
    let proto = state.protocol.clone();
    // A connection is checked out only when the call needs one: introspection and the
    // checks before issuing answer from memory when the state is warm.
    db::run_lazy(&state.pool, move |db: &mut db::Lazy| {
        call(db, &proto, &caller, &params)
    })
    .await
}

/// Who calls, and the form they sent.
async fn read_call(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(Caller, Params), OAuthError> {
    let params = read_form(req, payload).await?;
    let caller = Caller {
        authorization: authorization(req),
        ip: client_ip(req),
    };
    Ok((caller, params))
}

pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let answer = async {
        let (caller, params) = read_call(&req, payload).await?;
        let proto = state.protocol.clone();
        // A client-credentials request with warm memory runs right here on the worker
        // (checks and signing, then its row handed to the group-commit writers) and waits
        // for its batch's commit holding no thread; anything needing the database runs
        // again off the worker.
        db::run_memory_first(&state.pool, move |db: &mut db::Lazy| {
            tokens::exchange(db, &proto, &caller, &params)
        })
        .await?
        .committed()
        .await
    };
    match answer.await {
        Ok(response) => no_store_json(StatusCode::OK, &response),
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
        Ok(body) => no_store_json(StatusCode::OK, &body),
        Err(e) => error_response(e),
    }
}
