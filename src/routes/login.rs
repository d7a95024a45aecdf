//! `/login` and `/logout`. Wrong login and wrong password get the same message and cost
//! the same argon2 work; repeated failures are throttled per login and per address.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::auth::csrf::{self, CsrfForm};
use crate::auth::password;
use crate::auth::session::{self, SessionUser};
use crate::auth::throttle::{self, Verdict};
use crate::db::{self, models};
use crate::error::AppError;
use crate::routes::client_ip::client_ip;
use crate::routes::page::{Layout, render_with, see_other};
use crate::startup::AppState;

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
        && next.len() <= 4096;
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
    if user.is_some() {
        return Ok(see_other(&next));
    }
    login_page(&session, StatusCode::OK, None, String::new(), next)
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
    let key = throttle::login_key(&form.login);
    let typed = form.login.chars().take(100).collect::<String>();

    let (verdict, user) = {
        let (key, ip, login) = (key.clone(), ip.clone(), typed.trim().to_string());
        db::run(&state.pool, move |conn| {
            let verdict = throttle::check(conn, &key, &ip, Utc::now().naive_utc())?;
            if let Verdict::Refused { .. } = verdict {
                audit::record(
                    conn,
                    audit::Event::new(&key, audit::LOGIN_THROTTLED)
                        .target("user", &key)
                        .ip(&ip),
                )?;
                return Ok((verdict, None));
            }
            Ok((verdict, models::users::find_by_login(conn, &login)?))
        })
        .await?
    };
    if let Verdict::Refused { retry_at } = verdict {
        let minutes = ((retry_at - Utc::now().naive_utc()).num_seconds().max(0) + 59) / 60;
        let message = format!(
            "Too many failed sign-in attempts. Try again after {} UTC (in about {} minute{}).",
            retry_at.format("%H:%M"),
            minutes,
            if minutes == 1 { "" } else { "s" }
        );
        let mut response = login_page(
            &session,
            StatusCode::TOO_MANY_REQUESTS,
            Some(message),
            typed,
            next,
        )?;
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            (minutes * 60)
                .to_string()
                .parse()
                .expect("digits are a valid header value"),
        );
        return Ok(response);
    }

    // argon2 is deliberately slow: keep it off the worker threads. Unknown logins verify
    // against a dummy hash so both failures take the same time.
    let candidate = form.password;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let valid = web::block(move || match stored {
        Some(hash) => password::verify(&hash, &candidate),
        None => password::verify_dummy(&candidate),
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;

    match user.filter(|_| valid) {
        Some(user) => {
            let (id, login, ip) = (user.id, user.login.clone(), ip.clone());
            db::run(&state.pool, move |conn| {
                throttle::clear(conn, &throttle::login_key(&login))?;
                models::users::update_last_login(conn, id)?;
                audit::record(
                    conn,
                    audit::Event::new(&login, audit::LOGIN_SUCCEEDED)
                        .target("user", &login)
                        .ip(&ip),
                )
            })
            .await?;
            session::begin(&session, user.id)?;
            Ok(see_other(&next))
        }
        None => {
            let (key2, ip2, typed2) = (key.clone(), ip.clone(), typed.clone());
            db::run(&state.pool, move |conn| {
                throttle::record_failure(conn, &key2, &ip2)?;
                audit::record(
                    conn,
                    audit::Event::new(&key2, audit::LOGIN_FAILED)
                        .target("user", &key2)
                        .details(json!({ "login": typed2 }))
                        .ip(&ip2),
                )
            })
            .await?;
            login_page(
                &session,
                StatusCode::UNAUTHORIZED,
                Some(BAD_CREDENTIALS.into()),
                typed,
                next,
            )
        }
    }
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
    let expires = user.expires_at(state.config.session_absolute);
    let (sid, login, ip) = (user.session_id.clone(), user.login.clone(), client_ip(&req));
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
    Ok(see_other("/login"))
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
