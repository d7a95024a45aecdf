//! The Manage OAuth 2.0 clients list, with pause and resume.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::{ClientView, LIST_PATH};
use crate::audit::Actor;
use crate::db::{self, models, models::clients::ClientFilter};
use crate::domain::{ClientId, ClientStatus};
use crate::oauth::clients as registrar;
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash, local_path};
use crate::web::routes::page::{Layout, render, see_other};
use crate::web::session::{AdminViewer, Superuser};
use crate::web::state::AppState;

const PER_PAGE: i64 = 50;

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    q: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/clients/list.html")]
struct ListPage {
    layout: Layout,
    clients: Vec<ClientView>,
    status: String,
    q: String,
    page: i64,
    pages: i64,
    total: i64,
    authorize_url: String,
    token_url: String,
    /// This page's own path and query, to come back to after pause or resume.
    here: String,
}

impl ListPage {
    fn page_link(&self, page: i64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !self.status.is_empty() {
            query.append_pair("status", &self.status);
        }
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        query.append_pair("page", &page.to_string());
        format!("{LIST_PATH}?{}", query.finish())
    }
}

#[get("/admin/oauth2/clients")]
pub async fn list(
    AdminViewer(user): AdminViewer,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let status = query
        .status
        .as_deref()
        .and_then(|s| ClientStatus::parse(s).ok());
    let q: String = query
        .q
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(64)
        .collect();
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let filter = ClientFilter {
        status,
        text: (!q.is_empty()).then(|| q.clone()),
    };
    let (clients, total) = db::run(&state.pool, move |conn| {
        let total = models::clients::count(conn, &filter)?;
        let rows = models::clients::search(conn, &filter, PER_PAGE, (page - 1) * PER_PAGE)?;
        Ok((rows, total))
    })
    .await?;
    let base = state.config.public_base();
    render(&ListPage {
        layout: Layout::for_user(&user, "clients").with_flash(&session),
        clients: clients.into_iter().map(|row| ClientView { row }).collect(),
        status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        q,
        page,
        pages: ((total + PER_PAGE - 1) / PER_PAGE).max(1),
        total,
        authorize_url: format!("{base}/index.php?module=OAuth2&action=authorize"),
        token_url: format!("{base}/index.php?module=OAuth2&action=token"),
        here: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| LIST_PATH.into()),
    })
}

async fn set_status(
    user: &crate::web::session::SessionUser,
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    raw_id: &str,
    fields: &Fields,
    status: ClientStatus,
) -> Result<HttpResponse, AppError> {
    let client = super::load(state, raw_id).await?;
    let id = ClientId::parse(&client.client_id).map_err(|_| AppError::NotFound)?;
    let actor = Actor::new(&user.login).from_ip(client_ip(req));
    db::run_with(&state.pool, move |conn| {
        registrar::set_status(conn, id.as_str(), status, &actor)
    })
    .await?;
    flash(
        session,
        match status {
            ClientStatus::Paused => format!(
                "{} is paused: its tokens and requests are refused until you resume it.",
                client.name
            ),
            ClientStatus::Active => format!("{} is active again.", client.name),
        },
    );
    Ok(see_other(&local_path(
        &fields.text("back"),
        LIST_PATH,
        LIST_PATH,
    )))
}

#[post("/admin/oauth2/clients/{client_id}/pause")]
pub async fn pause(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    set_status(
        &user,
        &req,
        &session,
        &state,
        &path,
        &fields,
        ClientStatus::Paused,
    )
    .await
}

#[post("/admin/oauth2/clients/{client_id}/resume")]
pub async fn resume(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    set_status(
        &user,
        &req,
        &session,
        &state,
        &path,
        &fields,
        ClientStatus::Active,
    )
    .await
}
