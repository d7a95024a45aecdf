//! `/admin/websites`: Administration > Websites (superusers): list, create and edit sites.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use crate::audit::Actor;
use crate::db::{self, models, models::sites::SiteRow};
use crate::domain::{FieldErrors, SiteName, SiteUrl, parse_site_id};
use crate::sites;
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render, render_form, see_other};
use crate::web::session::{SessionUser, Superuser};
use crate::web::state::AppState;

const LIST: &str = "/admin/websites";

#[derive(Template)]
#[template(path = "admin/websites/list.html")]
struct ListPage {
    layout: Layout,
    sites: Vec<SiteRow>,
}

#[get("/admin/websites")]
pub async fn list(
    Superuser(user): Superuser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let sites = db::run(&state.pool, models::sites::list).await?;
    render(&ListPage {
        layout: Layout::for_user(&user, "websites").with_flash(&session),
        sites,
    })
}

#[derive(Template)]
#[template(path = "admin/websites/form.html")]
struct FormPage {
    layout: Layout,
    /// `None` when creating.
    id: Option<i64>,
    name: String,
    url: String,
    errors: FieldErrors,
    access: Vec<(String, String)>,
}

impl FormPage {
    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("{LIST}/{id}"),
            None => format!("{LIST}/new"),
        }
    }
}

fn parse(fields: &Fields) -> Result<(SiteName, SiteUrl), FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = errors.take("name", SiteName::parse(&fields.text("name")));
    let url = errors.take("url", SiteUrl::parse(&fields.text("url")));
    match (name, url) {
        (Some(name), Some(url)) => Ok((name, url)),
        _ => Err(errors),
    }
}

fn form_page(
    user: &SessionUser,
    id: Option<i64>,
    fields: &Fields,
    errors: FieldErrors,
    access: Vec<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let page = FormPage {
        layout: Layout::for_user(user, "websites"),
        id,
        name: fields.text("name"),
        url: fields.text("url"),
        errors,
        access,
    };
    render_form(&page.errors, &page)
}

#[get("/admin/websites/new")]
pub async fn new(Superuser(user): Superuser) -> Result<HttpResponse, AppError> {
    form_page(
        &user,
        None,
        &Fields::default(),
        FieldErrors::default(),
        vec![],
    )
}

#[post("/admin/websites/new")]
pub async fn create(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let (name, url) = match parse(&fields) {
        Ok(parsed) => parsed,
        Err(errors) => return form_page(&user, None, &fields, errors, vec![]),
    };
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let id = db::run_with(&state.pool, move |conn| {
        sites::create(conn, &name, &url, &actor)
    })
    .await?;
    flash(&session, format!("The website was created with ID {id}."));
    Ok(see_other(LIST))
}

async fn load(state: &AppState, raw: &str) -> Result<(SiteRow, Vec<(String, String)>), AppError> {
    let id = parse_site_id(raw).map_err(|_| AppError::NotFound)?;
    let (site, access) = db::run(&state.pool, move |conn| {
        Ok((
            models::sites::find(conn, id)?,
            models::site_access::for_site(conn, id)?,
        ))
    })
    .await?;
    Ok((site.ok_or(AppError::NotFound)?, access))
}

#[get("/admin/websites/{id}")]
pub async fn edit(
    Superuser(user): Superuser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (site, access) = load(&state, &path).await?;
    render(&FormPage {
        layout: Layout::for_user(&user, "websites"),
        id: Some(site.id),
        name: site.name,
        url: site.main_url,
        errors: FieldErrors::default(),
        access,
    })
}

#[post("/admin/websites/{id}")]
pub async fn update(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let (site, access) = load(&state, &path).await?;
    let (name, url) = match parse(&fields) {
        Ok(parsed) => parsed,
        Err(errors) => return form_page(&user, Some(site.id), &fields, errors, access),
    };
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let id = site.id;
    db::run_with(&state.pool, move |conn| {
        sites::update(conn, id, &name, &url, &actor)
    })
    .await?;
    flash(&session, "The website was saved.");
    Ok(see_other(LIST))
}
