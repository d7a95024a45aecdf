//! `/admin/oauth2/registration-tokens`: initial access tokens for dynamic client
//! registration (RFC 7591 §3). A superuser creates one with a label, an expiry and a use
//! count; it is shown once and stored only as a hash.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use crate::audit::{self, Actor};
use crate::db::{self, models, models::registration::InitialAccessTokenRow};
use crate::domain::FieldErrors;
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render_form, see_other};
use crate::web::routes::reveal;
use crate::web::session::{SessionUser, Superuser};
use crate::web::state::AppState;

const PATH: &str = "/admin/oauth2/registration-tokens";

#[derive(Template)]
#[template(path = "admin/registration_tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<InitialAccessTokenRow>,
    now: chrono::NaiveDateTime,
    label: String,
    days: String,
    uses: String,
    errors: FieldErrors,
    /// The token just created, shown this once.
    shown: Option<String>,
}

async fn page(
    state: &AppState,
    user: &SessionUser,
    session: Option<&Session>,
    fields: &Fields,
    errors: FieldErrors,
    shown: Option<String>,
) -> Result<HttpResponse, AppError> {
    let tokens = db::run(&state.pool, models::registration::list_tokens).await?;
    let mut layout = Layout::for_user(user, "clients");
    if let Some(session) = session {
        layout = layout.with_flash(session);
    }
    let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
    let page = TokensPage {
        layout,
        tokens,
        now: models::now(),
        label: fields.text("label"),
        days: or(fields.text("days"), "7"),
        uses: or(fields.text("uses"), "1"),
        errors,
        shown,
    };
    render_form(&page.errors, &page)
}

#[get("/admin/oauth2/registration-tokens")]
pub async fn list(
    Superuser(user): Superuser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let shown = reveal::take_for(&state, &session, "iat").await?;
    page(
        &state,
        &user,
        Some(&session),
        &Fields::default(),
        FieldErrors::default(),
        shown,
    )
    .await
}

fn number(errors: &mut FieldErrors, field: &'static str, raw: &str, max: i64) -> Option<i64> {
    match raw.trim().parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Some(n),
        _ => {
            errors.add(field, format!("Enter a whole number from 1 to {max}."));
            None
        }
    }
}

#[post("/admin/oauth2/registration-tokens")]
pub async fn create(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let label = fields.text("label").trim().to_string();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        errors.add(
            "label",
            "Name the token in 1 to 64 characters, such as who will use it.",
        );
    }
    let days = number(&mut errors, "days", &fields.text("days"), 365);
    let uses = number(&mut errors, "uses", &fields.text("uses"), 1000);
    let (Some(days), Some(uses)) = (days, uses) else {
        return page(&state, &user, None, &fields, errors, None).await;
    };
    if !errors.is_empty() {
        return page(&state, &user, None, &fields, errors, None).await;
    }
    if let Err(errors) =
        reauth::confirm(&state, &user, &req, &fields, reauth::CONFIRM_FIELD).await?
    {
        return page(&state, &user, None, &fields, errors, None).await;
    }
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let token = db::run(&state.pool, move |conn| {
        crate::oauth::registration::create_initial_token(conn, &label, days, uses as i32, &actor)
    })
    .await?;
    reveal::stash_for(&state, &session, "iat", None, &token).await?;
    Ok(see_other(PATH))
}

#[post("/admin/oauth2/registration-tokens/{id}/revoke")]
pub async fn revoke(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(_): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let id: i64 = path.parse().map_err(|_| AppError::NotFound)?;
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let revoked = db::run(&state.pool, move |conn| {
        let revoked = models::registration::revoke_token(conn, id, models::now())?;
        if revoked {
            audit::record(
                conn,
                audit::Event::by(&actor, audit::REGISTRATION_TOKEN_REVOKED)
                    .target("registration_token", &id.to_string()),
            )?;
        }
        Ok(revoked)
    })
    .await?;
    if !revoked {
        return Err(AppError::NotFound);
    }
    flash(&session, "The initial access token was revoked.");
    Ok(see_other(PATH))
}
