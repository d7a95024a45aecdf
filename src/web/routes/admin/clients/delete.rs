//! Deleting a client: a confirmation page naming the client and what it will revoke, and a
//! POST that asks for the superuser's password.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use super::{ClientView, LIST_PATH, load};
use crate::audit::Actor;
use crate::db::{self, models, models::client_usage::Holdings};
use crate::domain::{Client, FieldErrors};
use crate::oauth::clients as registrar;
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render_form, see_other};
use crate::web::session::{SessionUser, Superuser};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "admin/clients/delete.html")]
struct DeletePage {
    layout: Layout,
    client: ClientView,
    held: Holdings,
    errors: FieldErrors,
}

async fn page(
    state: &AppState,
    user: &SessionUser,
    client: Client,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let id = client.id;
    let held = db::run(&state.pool, move |conn| {
        models::client_usage::holdings(conn, id, models::now())
    })
    .await?;
    let page = DeletePage {
        layout: Layout::for_user(user, "clients"),
        client: ClientView { row: client },
        held,
        errors,
    };
    render_form(&page.errors, &page)
}

#[get("/admin/oauth2/clients/{client_id}/delete")]
pub async fn confirm(
    Superuser(user): Superuser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    page(&state, &user, client, FieldErrors::default()).await
}

#[post("/admin/oauth2/clients/{client_id}/delete")]
pub async fn delete(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    let ip = client_ip(&req);
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, reauth::FIELD).await? {
        return page(&state, &user, client, errors).await;
    }
    let actor = Actor::new(&user.login).from_ip(ip);
    let id = client.client_id.clone();
    db::run_with(&state.pool, move |conn| {
        registrar::delete(conn, &id, &actor)
    })
    .await?;
    flash(
        &session,
        format!(
            "{} was deleted, with all its tokens and consents.",
            client.name
        ),
    );
    Ok(see_other(LIST_PATH))
}
