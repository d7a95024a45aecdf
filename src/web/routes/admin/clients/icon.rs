//! A client's icon: uploaded through the console (PNG or JPEG, at most 64 KB), shown on the
//! consent screen and under Authorized applications, and served by Consentry itself, so
//! the pages keep `img-src 'self'` and load nothing from another origin.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use super::{ClientView, detail_path, load};
use crate::audit::Actor;
use crate::db::{self, models};
use crate::domain::{ClientIcon, ClientId, FieldErrors};
use crate::oauth::clients as registrar;
use crate::web::csrf::{CsrfForm, CsrfUpload};
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render, render_form, see_other};
use crate::web::session::{SessionUser, Superuser};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "admin/clients/icon.html")]
struct IconPage {
    layout: Layout,
    client: ClientView,
    errors: FieldErrors,
}

fn icon_page(user: &SessionUser, client: crate::domain::Client, errors: FieldErrors) -> IconPage {
    IconPage {
        layout: Layout::for_user(user, "clients"),
        client: ClientView { row: client },
        errors,
    }
}

#[get("/admin/oauth2/clients/{client_id}/icon")]
pub async fn show(
    Superuser(user): Superuser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    render(&icon_page(&user, client, FieldErrors::default()))
}

/// Uploads a new icon (password confirmed): refused with a field message when it is not a
/// PNG or JPEG, larger than 64 KB or than 1024 pixels a side.
#[post("/admin/oauth2/clients/{client_id}/icon")]
pub async fn upload(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: actix_session::Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    upload: CsrfUpload,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    let mut errors = FieldErrors::default();
    let icon = match upload.too_large {
        true => {
            errors.add("icon", "The icon may be at most 64 KB.");
            None
        }
        false => errors.take("icon", ClientIcon::parse(upload.file)),
    };
    if let Err(wrong) = reauth::confirm(&state, &user, &req, &upload.fields, reauth::FIELD).await? {
        errors.merge(wrong);
    }
    let Some(icon) = icon.filter(|_| errors.is_empty()) else {
        let page = icon_page(&user, client, errors);
        return render_form(&page.errors, &page);
    };
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let id = client.client_id.clone();
    db::run_with(&state.pool, move |conn| {
        registrar::set_icon(conn, &id, Some(&icon), &actor)
    })
    .await?;
    flash(
        &session,
        "The icon was saved; users see it on the consent screen.",
    );
    Ok(see_other(&detail_path(&client.client_id)))
}

#[post("/admin/oauth2/clients/{client_id}/icon/remove")]
pub async fn remove(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: actix_session::Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, reauth::FIELD).await? {
        let page = icon_page(&user, client, errors);
        return render_form(&page.errors, &page);
    }
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let id = client.client_id.clone();
    db::run_with(&state.pool, move |conn| {
        registrar::set_icon(conn, &id, None, &actor)
    })
    .await?;
    flash(&session, "The icon was removed.");
    Ok(see_other(&detail_path(&client.client_id)))
}

/// The icon itself, for anyone (the consent screen shows it before any choice): the stored
/// bytes with the content type recognised at upload, never sniffed.
#[get("/oauth2/clients/{client_id}/icon")]
pub async fn serve(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = ClientId::parse(&path).map_err(|_| AppError::NotFound)?;
    let icon = db::run(&state.pool, move |conn| {
        models::client_icons::find(conn, id.as_str())
    })
    .await?
    .ok_or(AppError::NotFound)?;
    let (content_type, bytes) = icon;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Disposition", "inline; filename=\"icon\""))
        .body(bytes))
}
