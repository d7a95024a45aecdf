//! `/admin/users`: Administration > System > Users (superusers): list and create users, set
//! a role, reset a password, and grant or remove a user's access level per website.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use crate::audit::Actor;
use crate::auth::accounts::{self, AccountError};
use crate::auth::initial_password;
use crate::db::{self, models, models::sites::SiteRow, models::users::UserRow};
use crate::domain::{AccessLevel, Email, FieldErrors, Login, Password, Role, parse_site_id};
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render, render_form, see_other};
use crate::web::session::{SessionUser, Superuser};
use crate::web::state::AppState;

const LIST: &str = "/admin/users";
/// The reset form's own confirmation field, as the role form on the same page has one too.
const RESET_CONFIRM_FIELD: &str = "reset_confirm_password";
const ROLES: [Role; 3] = [Role::User, Role::Support, Role::Superuser];

#[derive(Template)]
#[template(path = "admin/users/list.html")]
struct ListPage {
    layout: Layout,
    users: Vec<UserRow>,
}

#[get("/admin/users")]
pub async fn list(
    Superuser(user): Superuser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let users = db::run(&state.pool, models::users::list).await?;
    render(&ListPage {
        layout: Layout::for_user(&user, "users").with_flash(&session),
        users,
    })
}

#[derive(Template)]
#[template(path = "admin/users/new.html")]
struct NewPage {
    layout: Layout,
    login: String,
    email: String,
    role: String,
    roles: [Role; 3],
    errors: FieldErrors,
}

fn new_page(
    user: &SessionUser,
    fields: &Fields,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let role = fields.text("role");
    let page = NewPage {
        layout: Layout::for_user(user, "users"),
        login: fields.text("login"),
        email: fields.text("email"),
        role: if role.is_empty() { "user".into() } else { role },
        roles: ROLES,
        errors,
    };
    render_form(&page.errors, &page)
}

#[get("/admin/users/new")]
pub async fn new(Superuser(user): Superuser) -> Result<HttpResponse, AppError> {
    new_page(&user, &Fields::default(), FieldErrors::default())
}

#[post("/admin/users/new")]
pub async fn create(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let login = errors.take("login", Login::parse(&fields.text("login")));
    let email = errors.take("email", Email::parse(&fields.text("email")));
    let role = errors.take("role", fields.text("role").parse::<Role>());
    let password = errors.take("password", Password::parse(&fields.text("password")));
    let (Some(login), Some(email), Some(role), Some(password)) = (login, email, role, password)
    else {
        return new_page(&user, &fields, errors);
    };
    // Creating an account (a superuser above all) is as powerful as any client change.
    if let Err(errors) =
        reauth::confirm(&state, &user, &req, &fields, reauth::CONFIRM_FIELD).await?
    {
        return new_page(&user, &fields, errors);
    }
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let shown = login.to_string();
    let hash = state.hash_password(password).await?;
    let created = db::run_with(&state.pool, move |conn| {
        accounts::create(conn, &login, &email, role, &hash, &actor)
    })
    .await;
    match created {
        Ok(()) => {
            flash(&session, format!("The user {shown} was created."));
            Ok(see_other(&format!("{LIST}/{shown}")))
        }
        Err(AccountError::LoginTaken(_)) => {
            errors.add("login", "This login is taken; choose another.");
            new_page(&user, &fields, errors)
        }
        Err(e) => Err(e.into()),
    }
}

/// One site and the user's level on it, for the access table.
pub struct SiteAccess {
    pub site: SiteRow,
    pub level: Option<AccessLevel>,
}

impl SiteAccess {
    pub fn level_is(&self, name: &str) -> bool {
        self.level.is_some_and(|l| l.as_str() == name)
    }
}

#[derive(Template)]
#[template(path = "admin/users/show.html")]
struct ShowPage {
    layout: Layout,
    shown: UserRow,
    roles: [Role; 3],
    levels: [AccessLevel; 3],
    sites: Vec<SiteAccess>,
    /// What deleting the user takes with it: their live grants and the clients they own
    /// (client ID, name), and who could take those clients over.
    live_grants: i64,
    owned: Vec<(String, String)>,
    heirs: Vec<String>,
    errors: FieldErrors,
}

impl ShowPage {
    fn base(&self) -> String {
        format!("{LIST}/{}", self.shown.login)
    }
}

/// What would go with a deleted user.
#[derive(Default)]
struct Fate {
    live_grants: i64,
    owned: Vec<(String, String)>,
    heirs: Vec<String>,
}

async fn show_page(
    state: &AppState,
    user: &SessionUser,
    login: &str,
    errors: FieldErrors,
    session: Option<&Session>,
) -> Result<HttpResponse, AppError> {
    let login = login.to_string();
    let (shown, sites, fate) = db::run(&state.pool, move |conn| {
        let Some(shown) = models::users::find_by_login(conn, &login)? else {
            return Ok((None, vec![], Fate::default()));
        };
        let fate = Fate {
            live_grants: models::grants::count_live_of_user(conn, shown.id, models::now())?,
            owned: models::clients::owned_by(conn, shown.id)?,
            heirs: models::users::list(conn)?
                .into_iter()
                .filter(|u| u.id != shown.id && u.is_active() && u.role() == Role::Superuser)
                .map(|u| u.login)
                .collect(),
        };
        let levels = models::site_access::for_user(conn, shown.id)?;
        let sites = models::sites::list(conn)?
            .into_iter()
            .map(|site| SiteAccess {
                level: levels
                    .iter()
                    .find(|(id, _)| *id == site.id)
                    .map(|(_, l)| *l),
                site,
            })
            .collect();
        Ok((Some(shown), sites, fate))
    })
    .await?;
    let shown = shown.ok_or(AppError::NotFound)?;
    let mut layout = Layout::for_user(user, "users");
    if let Some(session) = session {
        layout = layout.with_flash(session);
    }
    let page = ShowPage {
        layout,
        shown,
        roles: ROLES,
        levels: AccessLevel::ALL,
        sites,
        live_grants: fate.live_grants,
        owned: fate.owned,
        heirs: fate.heirs,
        errors,
    };
    render_form(&page.errors, &page)
}

#[get("/admin/users/{login}")]
pub async fn show(
    Superuser(user): Superuser,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    show_page(&state, &user, &path, FieldErrors::default(), Some(&session)).await
}

#[post("/admin/users/{login}/role")]
pub async fn set_role(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let login = path.into_inner();
    let mut errors = FieldErrors::default();
    let Some(role) = errors.take("role", fields.text("role").parse::<Role>()) else {
        return show_page(&state, &user, &login, errors, None).await;
    };
    if let Err(errors) =
        reauth::confirm(&state, &user, &req, &fields, reauth::CONFIRM_FIELD).await?
    {
        return show_page(&state, &user, &login, errors, None).await;
    }
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let target = login.clone();
    match db::run_with(&state.pool, move |conn| {
        accounts::set_role(conn, &target, role, &actor)
    })
    .await
    {
        Ok(()) => {
            flash(&session, format!("{login} is now {role}."));
            Ok(see_other(&format!("{LIST}/{login}")))
        }
        Err(AccountError::LastSuperuser(_)) => {
            errors.add(
                "role",
                "This is the last superuser; make another user superuser first.",
            );
            show_page(&state, &user, &login, errors, None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/users/{login}/password")]
pub async fn reset_password(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let login = path.into_inner();
    let parsed = Login::parse(&login).map_err(|_| AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let Some(password) = errors.take("password", Password::parse(&fields.text("password"))) else {
        return show_page(&state, &user, &login, errors, None).await;
    };
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, RESET_CONFIRM_FIELD).await? {
        return show_page(&state, &user, &login, errors, None).await;
    }
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let revoke_grants = fields.checked("revoke_grants");
    let hash = state.hash_password(password).await?;
    let changed = parsed.clone();
    db::run_with(&state.pool, move |conn| {
        accounts::set_password(conn, &parsed, &hash, &actor, revoke_grants)
    })
    .await?;
    initial_password::forget(&state.config.data_dir, &changed);
    flash(
        &session,
        if revoke_grants {
            format!(
                "The password of {login} was reset; their sessions ended and their applications lost access."
            )
        } else {
            format!("The password of {login} was reset; their sessions ended.")
        },
    );
    Ok(see_other(&format!("{LIST}/{login}")))
}

#[post("/admin/users/{login}/access")]
pub async fn set_access(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let login = path.into_inner();
    let site = parse_site_id(&fields.text("site"))
        .map_err(|e| AppError::BadRequest(format!("site: {e}")))?;
    let level = match fields.text("access").as_str() {
        "noaccess" => None,
        other => Some(
            other
                .parse::<AccessLevel>()
                .map_err(|e| AppError::BadRequest(e.to_string()))?,
        ),
    };
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let target = login.clone();
    db::run_with(&state.pool, move |conn| {
        crate::sites::set_access(conn, &target, site, level, &actor)
    })
    .await?;
    flash(
        &session,
        match level {
            Some(level) => format!("{login} now has {level} access to website {site}."),
            None => format!("{login} no longer has access to website {site}."),
        },
    );
    Ok(see_other(&format!("{LIST}/{login}")))
}

/// The confirmation field of the deactivate, activate and delete forms.
const STATUS_CONFIRM_FIELD: &str = "status_confirm_password";
const DELETE_CONFIRM_FIELD: &str = "delete_confirm_password";
const LAST_ACTIVE_SUPERUSER: &str =
    "This is the last active superuser; make another user superuser first.";

/// Deactivates or reactivates `login` once the superuser's password is confirmed.
#[post("/admin/users/{login}/{change:(deactivate|activate)}")]
pub async fn change_status(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let (login, change) = path.into_inner();
    let deactivate = change == "deactivate";
    let parsed = Login::parse(&login).map_err(|_| AppError::NotFound)?;
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, STATUS_CONFIRM_FIELD).await?
    {
        return show_page(&state, &user, &login, errors, None).await;
    }
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let done = db::run_with(&state.pool, move |conn| {
        if deactivate {
            accounts::deactivate(conn, &parsed, &actor)
        } else {
            accounts::activate(conn, &parsed, &actor)
        }
    })
    .await;
    match done {
        Ok(()) if deactivate => flash(
            &session,
            format!(
                "{login} is deactivated: their sessions ended and their applications lost access."
            ),
        ),
        Ok(()) => flash(&session, format!("{login} may sign in again.")),
        Err(AccountError::LastSuperuser(_)) => {
            let errors = FieldErrors::one(STATUS_CONFIRM_FIELD, LAST_ACTIVE_SUPERUSER);
            return show_page(&state, &user, &login, errors, None).await;
        }
        Err(AccountError::UnknownLogin(_)) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&format!("{LIST}/{login}")))
}

#[post("/admin/users/{login}/delete")]
pub async fn delete(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let login = path.into_inner();
    let parsed = Login::parse(&login).map_err(|_| AppError::NotFound)?;
    let clients = match fields.text("clients").as_str() {
        "delete" => accounts::OwnedClients::Delete,
        "reassign" => match Login::parse(&fields.text("heir")) {
            Ok(heir) => accounts::OwnedClients::ReassignTo(heir),
            Err(_) => {
                let errors =
                    FieldErrors::one("heir", "Choose the superuser who takes the clients over.");
                return show_page(&state, &user, &login, errors, None).await;
            }
        },
        _ => accounts::OwnedClients::None,
    };
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, DELETE_CONFIRM_FIELD).await?
    {
        return show_page(&state, &user, &login, errors, None).await;
    }
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let done = db::run_with(&state.pool, move |conn| {
        accounts::delete(conn, &parsed, &clients, &actor)
    })
    .await;
    let problem = match done {
        Ok(done) => {
            flash(
                &session,
                format!(
                    "{login} was deleted: {} application grant(s) revoked, {} client(s) handed over, {} client(s) deleted.",
                    done.grants_revoked, done.clients_reassigned, done.clients_deleted
                ),
            );
            return Ok(see_other(LIST));
        }
        Err(AccountError::UnknownLogin(_)) => return Err(AppError::NotFound),
        Err(AccountError::LastSuperuser(_)) => {
            (DELETE_CONFIRM_FIELD, LAST_ACTIVE_SUPERUSER.to_string())
        }
        Err(AccountError::OwnsClients(_, n)) => (
            "clients",
            format!("This user owns {n} client(s): hand them over or delete them."),
        ),
        Err(e @ AccountError::NotAnHeir(_)) => ("heir", e.to_string()),
        Err(e) => return Err(e.into()),
    };
    let errors = FieldErrors::one(problem.0, problem.1);
    show_page(&state, &user, &login, errors, None).await
}
