//! `/account/security`: Personal > Security. A user changes their own password with the
//! current one; every other console session of theirs ends, this one goes on.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use crate::audit::Actor;
use crate::auth::{accounts, initial_password};
use crate::db::{self, models};
use crate::domain::{FieldErrors, Login, Password};
use crate::oauth::oidc::AMR_PASSWORD;
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render_form, see_other};
use crate::web::session::{self, SessionUser};
use crate::web::state::AppState;

const PATH: &str = "/account/security";
const CURRENT_FIELD: &str = "current_password";

#[derive(Template)]
#[template(path = "account/security.html")]
struct SecurityPage {
    layout: Layout,
    errors: FieldErrors,
}

fn page(
    user: &SessionUser,
    session: Option<&Session>,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let mut layout = Layout::for_user(user, "security");
    if let Some(session) = session {
        layout = layout.with_flash(session);
    }
    let page = SecurityPage { layout, errors };
    render_form(&page.errors, &page)
}

#[get("/account/security")]
pub async fn show(user: SessionUser, session: Session) -> Result<HttpResponse, AppError> {
    page(&user, Some(&session), FieldErrors::default())
}

#[post("/account/security/password")]
pub async fn change_password(
    user: SessionUser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let new = errors.take(
        "new_password",
        Password::parse(&fields.text("new_password")),
    );
    if new.is_some() && fields.text("new_password") != fields.text("repeat_password") {
        errors.add("repeat_password", "The two new passwords differ.");
    }
    let (Some(new), true) = (new, errors.is_empty()) else {
        return page(&user, None, errors);
    };
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, CURRENT_FIELD).await? {
        return page(&user, None, errors);
    }
    let hash = state.hash_password(new).await?;
    let login = Login::parse(&user.login).map_err(|e| AppError::Internal(e.0))?;
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let changed = login.clone();
    let epoch = db::run_with(&state.pool, move |conn| {
        accounts::set_password(conn, &changed, &hash, &actor, false)?;
        let row = models::users::find_by_login(conn, changed.as_str())?
            .ok_or_else(|| accounts::AccountError::UnknownLogin(changed.to_string()))?;
        Ok::<_, accounts::AccountError>(row.session_epoch)
    })
    .await?;
    initial_password::forget(&state.config.data_dir, &login);
    // The new epoch ended every session; this one starts again under it.
    // Only the password was proven just now: the new session says so (auth_time, amr).
    session::begin(&session, user.id, epoch, AMR_PASSWORD)?;
    flash(
        &session,
        "Your password was changed. Your other console sessions have ended.".to_string(),
    );
    Ok(see_other(PATH))
}
