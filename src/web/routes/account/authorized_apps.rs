//! `/account/authorized-apps`: Personal > Authorized applications. Every user sees the
//! clients they approved and can revoke each at once.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use crate::audit::Actor;
use crate::db::{self, models, models::consents::ApprovedClient};
use crate::domain::ClientId;
use crate::oauth::consents;
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render, see_other};
use crate::web::session::SessionUser;
use crate::web::state::AppState;

const PATH: &str = "/account/authorized-apps";

pub struct AppView {
    pub app: ApprovedClient,
    pub last_used: Option<chrono::NaiveDateTime>,
}

#[derive(Template)]
#[template(path = "account/authorized_apps.html")]
struct AppsPage {
    layout: Layout,
    apps: Vec<AppView>,
}

#[get("/account/authorized-apps")]
pub async fn list(
    user: SessionUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let user_id = user.id;
    let apps = db::run(&state.pool, move |conn| {
        let apps = models::consents::list_for_user(conn, user_id)?;
        let ids: Vec<i64> = apps.iter().map(|a| a.client_pk).collect();
        let last: HashMap<i64, Option<chrono::NaiveDateTime>> =
            models::access_tokens::last_issued_for_user(conn, user_id, &ids)?
                .into_iter()
                .collect();
        Ok(apps
            .into_iter()
            .map(|app| AppView {
                last_used: last.get(&app.client_pk).copied().flatten(),
                app,
            })
            .collect())
    })
    .await?;
    render(&AppsPage {
        layout: Layout::for_user(&user, "authorized-apps").with_flash(&session),
        apps,
    })
}

#[post("/account/authorized-apps/{client_id}/revoke")]
pub async fn revoke(
    user: SessionUser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let id = ClientId::parse(&path).map_err(|_| AppError::NotFound)?;
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let user_id = user.id;
    let name = db::run(&state.pool, move |conn| {
        let Some(client) = models::clients::find_by_client_id(conn, id.as_str())? else {
            return Ok(None);
        };
        let withdrawn = consents::withdraw(conn, user_id, &client, &actor)?;
        Ok(withdrawn.then_some(client.name))
    })
    .await?
    .ok_or(AppError::NotFound)?;
    flash(
        &session,
        format!("{name} no longer has access to your account; its tokens were revoked."),
    );
    Ok(see_other(PATH))
}
