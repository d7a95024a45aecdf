//! `/account/security/2fa`: Personal > Security > Two-factor authentication. Enrolment
//! shows a QR code drawn here as SVG (no image from anywhere else) and the secret as text,
//! confirmed by a first code; the ten recovery codes are shown once, in the answer to that
//! confirmation. Turning it off takes the password and a code.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use qrcode::QrCode;
use qrcode::render::svg;

use crate::audit::Actor;
use crate::auth::second_factor::{self, Check, PendingSecret, SecondFactorError};
use crate::db::{self, DbError, models};
use crate::domain::FieldErrors;
use crate::oauth::oidc::AMR_PASSWORD;
use crate::web::csrf::{self, CsrfForm};
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render, render_form, see_other};
use crate::web::routes::second_factor::AMR_WITH_CODE;
use crate::web::session::{self, ENROLMENT_PATH, SessionUser};
use crate::web::state::AppState;

/// The secret being enrolled, kept in the (encrypted) session cookie until confirmed.
const PENDING_SECRET: &str = "enrol_secret";
const DISABLE_PASSWORD: &str = "disable_password";
const ENABLE_PASSWORD: &str = "enable_password";

#[derive(Template)]
#[template(path = "account/two_factor.html")]
struct TwoFactorPage {
    layout: Layout,
    errors: FieldErrors,
    /// On: when it was turned on, and how many recovery codes are left.
    enabled: Option<(String, i64)>,
    /// Off: the secret as text and its QR code.
    secret: String,
    qr_svg: String,
    /// A role that must have a second factor and has none.
    required: bool,
}

#[derive(Template)]
#[template(path = "account/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    codes: Vec<String>,
}

/// The secret this session is enrolling, made on the first visit.
fn pending(session: &Session) -> Result<PendingSecret, AppError> {
    let kept: Option<String> = session.get(PENDING_SECRET).ok().flatten();
    if let Some(secret) = kept.as_deref().and_then(PendingSecret::from_base32) {
        return Ok(secret);
    }
    let fresh = PendingSecret::generate();
    session
        .insert(PENDING_SECRET, fresh.base32())
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(fresh)
}

/// The user's session epoch now (raised by the change just made).
fn epoch_of(conn: &mut diesel::MysqlConnection, user_id: i64) -> Result<i32, DbError> {
    models::users::find_by_id(conn, user_id)?
        .map(|u| u.session_epoch)
        .ok_or_else(|| DbError::Vanished("the user".into()))
}

/// The enrolment QR code as inline SVG, with a text alternative.
fn qr_svg(url: &str) -> Result<String, AppError> {
    let code = QrCode::new(url.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ",
        1,
    ))
}

async fn page(
    state: &AppState,
    user: &SessionUser,
    session: &Session,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let (user_id, live) = (user.id, state.protocol.live.clone());
    let (row, left, settings) = db::run(&state.pool, move |conn| {
        let row = models::users::find_by_id(conn, user_id)?;
        let left = second_factor::recovery_codes_left(conn, user_id)?;
        Ok::<_, DbError>((row, left, live.settings(conn)?))
    })
    .await?;
    let row = row.ok_or(AppError::Forbidden)?;
    let (enabled, secret, qr) = match row.totp_enabled_at.filter(|_| row.has_second_factor()) {
        Some(at) => (
            Some((at.format("%Y-%m-%d %H:%M UTC").to_string(), left)),
            String::new(),
            String::new(),
        ),
        None => {
            let secret = pending(session)?;
            let url = secret.otpauth_url(&user.login);
            (None, secret.base32(), qr_svg(&url)?)
        }
    };
    let page = TwoFactorPage {
        layout: Layout::for_user(user, "security").with_flash(session),
        errors,
        required: enabled.is_none() && settings.requires_second_factor(user.role),
        enabled,
        secret,
        qr_svg: qr,
    };
    render_form(&page.errors, &page)
}

#[get("/account/security/2fa")]
pub async fn show(
    user: SessionUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    page(&state, &user, &session, FieldErrors::default()).await
}

/// Confirms enrolment with the password and a first code; answers with the recovery
/// codes, this once. Every other session of the user ends; this one starts again as a
/// sign-in with both factors.
#[post("/account/security/2fa")]
pub async fn enable(
    user: SessionUser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    // Whoever holds a session alone must not lock its owner out with their own app.
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, ENABLE_PASSWORD).await? {
        return page(&state, &user, &session, errors).await;
    }
    let secret = pending(&session)?;
    let (user_id, code) = (user.id, fields.text("code"));
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let enabled = db::run_with(&state.pool, move |conn| {
        let row = models::users::find_by_id(conn, user_id)?.ok_or(SecondFactorError::NotOn)?;
        let codes = second_factor::enable(conn, &row, &secret, &code, &actor)?;
        Ok::<_, SecondFactorError>((codes, epoch_of(conn, user_id)?))
    })
    .await;
    match enabled {
        Ok((codes, epoch)) => {
            session::begin(&session, user.id, epoch, AMR_WITH_CODE)?;
            // The new session has a new CSRF token: the page's forms carry it.
            let mut layout = Layout::for_user(&user, "security");
            layout.csrf_token = csrf::token(&session)?;
            render(&RecoveryCodesPage { layout, codes })
        }
        Err(SecondFactorError::Db(e)) => Err(e.into()),
        Err(SecondFactorError::AlreadyOn) => Ok(see_other(ENROLMENT_PATH)),
        Err(e) => {
            page(
                &state,
                &user,
                &session,
                FieldErrors::one("code", e.to_string()),
            )
            .await
        }
    }
}

/// Turns the second factor off: the password and a current code (or recovery code).
#[post("/account/security/2fa/disable")]
pub async fn disable(
    user: SessionUser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, DISABLE_PASSWORD).await? {
        return page(&state, &user, &session, errors).await;
    }
    let (user_id, code, ip) = (user.id, fields.text("disable_code"), client_ip(&req));
    let actor = Actor::new(&user.login).from_ip(ip.as_str());
    let outcome = db::run_with(&state.pool, move |conn| {
        let row = models::users::find_by_id(conn, user_id)?.ok_or(SecondFactorError::NotOn)?;
        match second_factor::check(conn, &row, &code, &ip)? {
            Check::Valid(_) => {
                second_factor::disable(conn, &row, &actor)?;
                Ok(Ok(epoch_of(conn, user_id)?))
            }
            Check::Wrong => Ok(Err("That code is not right.".to_string())),
            Check::Throttled { .. } => Ok(Err(
                "Too many wrong codes; wait a few minutes and try again.".to_string(),
            )),
        }
    })
    .await;
    match outcome {
        Ok(Ok(epoch)) => {
            // Every session ended with the change; this one goes on, with the password.
            session::begin(&session, user.id, epoch, AMR_PASSWORD)?;
            flash(&session, "Two-factor authentication is off.");
            Ok(see_other(ENROLMENT_PATH))
        }
        Ok(Err(message)) => {
            page(
                &state,
                &user,
                &session,
                FieldErrors::one("disable_code", message),
            )
            .await
        }
        Err(SecondFactorError::Db(e)) => Err(e.into()),
        Err(e) => Err(AppError::BadRequest(e.to_string())),
    }
}
