//! `/account/authorized-apps`: Personal > Authorized applications. Every user sees the
//! clients they approved and can revoke each at once.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use crate::audit::Actor;
use crate::db::{self, models, models::consents::ApprovedClient};
use crate::domain::{Client, ClientId, FieldErrors, SiteLimit, parse_site_id};
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
    /// The names of the websites it is limited to; empty: all.
    pub sites: Vec<String>,
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
        let all_sites = models::sites::list(conn)?;
        let names = |stored: Option<&str>| -> Vec<String> {
            let limit = SiteLimit::stored(stored);
            match limit.is_limited() {
                false => Vec::new(),
                true => (all_sites.iter())
                    .filter(|s| limit.allows(s.id))
                    .map(|s| s.name.clone())
                    .collect(),
            }
        };
        let last: HashMap<i64, Option<chrono::NaiveDateTime>> =
            models::access_tokens::last_issued_for_user(conn, user_id, &ids)?
                .into_iter()
                .collect();
        Ok(apps
            .into_iter()
            .map(|app| AppView {
                last_used: last.get(&app.client_pk).copied().flatten(),
                sites: names(app.site_ids.as_deref()),
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

#[derive(Template)]
#[template(path = "account/app_sites.html")]
struct SitesPage {
    layout: Layout,
    client: Client,
    sites: Vec<crate::db::models::sites::SiteRow>,
    limit: SiteLimit,
    errors: FieldErrors,
}

impl SitesPage {
    fn ticked(&self, site_id: &i64) -> bool {
        self.limit.is_limited() && self.limit.allows(*site_id)
    }
}

/// The websites one approved application is limited to, and a form to change them.
#[get("/account/authorized-apps/{client_id}/sites")]
pub async fn show_sites(
    user: SessionUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    render(&sites_page(&state, &user, &path).await?)
}

/// The page as stored: the client (404 unless the user approved it), the websites the user
/// can access and the limit remembered.
async fn sites_page(
    state: &AppState,
    user: &SessionUser,
    raw_id: &str,
) -> Result<SitesPage, AppError> {
    let id = ClientId::parse(raw_id).map_err(|_| AppError::NotFound)?;
    let (user_id, role) = (user.id, user.role);
    let (client, sites, limit) = db::run(&state.pool, move |conn| {
        let Some(client) = models::clients::find_by_client_id(conn, id.as_str())? else {
            return Ok(None);
        };
        if crate::oauth::consents::remembered(conn, user_id, client.id)?.is_none() {
            return Ok(None);
        }
        let sites = crate::sites::accessible(conn, user_id, role)?;
        let limit = crate::oauth::consents::remembered_sites(conn, user_id, client.id)?;
        Ok(Some((client, sites, limit)))
    })
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(SitesPage {
        layout: Layout::for_user(user, "authorized-apps"),
        client,
        sites,
        limit,
        errors: FieldErrors::default(),
    })
}

/// Saves the websites an approved application may act on: its live grants change at
/// once, and so do its next ones.
#[post("/account/authorized-apps/{client_id}/sites")]
pub async fn save_sites(
    user: SessionUser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let ticked = (fields.text("sites") == "chosen").then(|| fields.all("site"));
    let mut page = sites_page(&state, &user, &path).await?;
    let accessible: Vec<i64> = page.sites.iter().map(|s| s.id).collect();
    let limit = match consents::chosen_sites(&accessible, ticked.as_deref()) {
        Ok(limit) => limit,
        Err(e) => {
            // Shown again as typed: the ticks that were website IDs stay ticked.
            let kept = ticked.iter().flatten();
            page.limit = SiteLimit::Only(kept.filter_map(|id| parse_site_id(id).ok()).collect());
            page.errors = FieldErrors::one("sites", e.0);
            return crate::web::routes::page::render_form(&page.errors, &page);
        }
    };
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let (user_id, client, saved) = (user.id, page.client.clone(), limit.clone());
    db::run(&state.pool, move |conn| {
        consents::limit_sites(conn, user_id, &client, &saved, &actor)?;
        Ok(())
    })
    .await?;
    let name = &page.client.name;
    let message = match limit {
        SiteLimit::All => format!("{name} may now act on all the websites you can access."),
        SiteLimit::Only(ids) => format!(
            "{name} may now act only on the {} website(s) you ticked.",
            ids.len()
        ),
    };
    flash(&session, message);
    Ok(see_other(PATH))
}
