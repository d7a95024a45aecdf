//! `/login` and `/logout`. Wrong login and wrong password get the same message and cost
//! the same argon2 work; repeated failures are throttled per login and per address.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::audit;
use crate::auth::password_check::{self, Outcome, Purpose};
use crate::auth::throttle::Verdict;
use crate::db::{self, models};
use crate::oauth::oidc::AMR_PASSWORD;
use crate::web::csrf::{self, CsrfForm};
use crate::web::error::AppError;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::page::{Layout, render_with, see_other};
use crate::web::session::{self, SessionUser};
use crate::web::state::AppState;

const BAD_CREDENTIALS: &str = "Wrong username or password.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    login: String,
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// OpenID Connect `login_hint`: what the login field starts with.
    login_hint: Option<String>,
    /// An application asked that the user sign in again (`prompt=login`, `max_age`).
    again: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// Only local paths are followed after sign-in, so `next` cannot become an open redirect.
fn safe_next(next: &str) -> String {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        // Room for an authorization request with its state, nonce and id_token_hint.
        && next.len() <= 8192;
    if local {
        next.to_string()
    } else {
        "/".to_string()
    }
}

fn login_page(
    session: &Session,
    status: StatusCode,
    error: Option<String>,
    login: String,
    next: String,
) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        layout: Layout::anonymous(csrf::token(session)?),
        error,
        login,
        next,
    };
    render_with(status, &page)
}

#[get("/login")]
pub async fn show_form(
    session: Session,
    query: web::Query<NextQuery>,
    user: Option<SessionUser>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(query.next.as_deref().unwrap_or("/"));
    let again = query.again.is_some();
    let login = match (&user, &query.login_hint) {
        (Some(user), _) if again => user.login.clone(),
        (Some(_), _) => return Ok(see_other(&next)),
        (None, Some(hint)) => hint.chars().filter(|c| !c.is_control()).take(100).collect(),
        (None, None) => String::new(),
    };
    login_page(&session, StatusCode::OK, None, login, next)
}

#[post("/login")]
pub async fn submit(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let ip = client_ip(&req);
    let next = safe_next(&form.next);
    let typed = form.login.chars().take(100).collect::<String>();
    let outcome = password_check::check(
        &state.pool,
        &state.hasher,
        &typed,
        form.password,
        &ip,
        Purpose::SignIn,
    )
    .await?;
    match outcome {
        Outcome::Valid(user) if user.has_second_factor() => {
            session::begin_second_factor(&session, user.id, user.session_epoch, &next)?;
            Ok(see_other(super::second_factor::PATH))
        }
        Outcome::Valid(user) => {
            session::begin(&session, user.id, user.session_epoch, AMR_PASSWORD)?;
            Ok(see_other(&next))
        }
        Outcome::Wrong => login_page(
            &session,
            StatusCode::UNAUTHORIZED,
            Some(BAD_CREDENTIALS.into()),
            typed,
            next,
        ),
        Outcome::Deactivated => login_page(
            &session,
            StatusCode::FORBIDDEN,
            Some("This account is deactivated. Ask a superuser to reactivate it.".into()),
            typed,
            next,
        ),
        Outcome::Busy => Err(AppError::Busy),
        Outcome::Throttled { retry_at } => {
            let now = Utc::now().naive_utc();
            let wait = Verdict::Refused { retry_at }.retry_after_secs(now);
            let message = format!(
                "Too many failed sign-in attempts from this address. Try again after {} UTC (in {}).",
                retry_at.format("%H:%M:%S"),
                in_words(wait)
            );
            let mut response = login_page(
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
                typed,
                next,
            )?;
            crate::web::error::retry_after(&mut response, wait);
            Ok(response)
        }
    }
}

/// "1 second", "40 seconds", "3 minutes".
pub(crate) fn in_words(secs: i64) -> String {
    let (n, unit) = if secs < 60 {
        (secs, "second")
    } else {
        ((secs + 59) / 60, "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[derive(Deserialize)]
pub struct NoFields {}

#[post("/logout")]
pub async fn logout(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    user: SessionUser,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    sign_out(&req, &session, &state, &user).await?;
    Ok(see_other("/login"))
}

/// Ends this session for good (its id is refused from now on, even in a copied cookie)
/// and records it: the console's Sign out and OpenID Connect's logout.
pub async fn sign_out(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    user: &SessionUser,
) -> Result<(), AppError> {
    let expires = user.expires_at(state.config.session_absolute);
    let (sid, login, ip) = (user.session_id.clone(), user.login.clone(), client_ip(req));
    db::run(&state.pool, move |conn| {
        models::revoked_sessions::insert(conn, &sid, expires)?;
        audit::record(
            conn,
            audit::Event::new(&login, audit::LOGGED_OUT)
                .target("user", &login)
                .ip(&ip),
        )
    })
    .await?;
    session.purge();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/admin/audit?x=1"), "/admin/audit?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}
