//! `/login/2fa`: the second step of signing in to an account with a second factor. The
//! session holds only the pending sign-in (for five minutes) until a code from the app or
//! a recovery code completes it.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::Utc;

use crate::auth::password_check;
use crate::auth::second_factor::{self, Check, Method};
use crate::auth::throttle::Verdict;
use crate::db::{self, DbError, models};
use crate::web::csrf::{self, CsrfForm};
use crate::web::error::AppError;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::Fields;
use crate::web::routes::login::in_words;
use crate::web::routes::page::{Layout, render_with, see_other};
use crate::web::session;
use crate::web::state::AppState;

pub const PATH: &str = "/login/2fa";
/// How a session that passed both steps signed in (RFC 8176).
pub const AMR_WITH_CODE: &str = "pwd otp";

#[derive(Template)]
#[template(path = "login_2fa.html")]
struct CodePage {
    layout: Layout,
    error: Option<String>,
}

fn code_page(
    session: &Session,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = CodePage {
        layout: Layout::anonymous(csrf::token(session)?),
        error,
    };
    render_with(status, &page)
}

#[get("/login/2fa")]
pub async fn show(session: Session) -> Result<HttpResponse, AppError> {
    if session::pending_second_factor(&session).is_none() {
        return Ok(see_other("/login"));
    }
    code_page(&session, StatusCode::OK, None)
}

/// What the second step came to.
enum Step {
    Done {
        epoch: i32,
        method: Method,
    },
    Wrong,
    Throttled(chrono::NaiveDateTime),
    /// The account changed since the password was checked (deactivated, new password,
    /// second factor removed): start again.
    Stale,
}

#[post("/login/2fa")]
pub async fn submit(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let Some((user_id, epoch, next)) = session::pending_second_factor(&session) else {
        return Ok(see_other("/login"));
    };
    let (code, ip) = (fields.text("code"), client_ip(&req));
    let step = db::run(&state.pool, move |conn| {
        let Some(user) = models::users::find_by_id(conn, user_id)?
            .filter(|u| u.is_active() && u.session_epoch == epoch && u.has_second_factor())
        else {
            return Ok::<_, DbError>(Step::Stale);
        };
        Ok(match second_factor::check(conn, &user, &code, &ip)? {
            Check::Valid(method) => {
                let used = match method {
                    Method::Totp => "totp",
                    Method::RecoveryCode { .. } => "recovery_code",
                };
                password_check::signed_in_now(conn, user.id, &user.login, &ip, Some(used))?;
                Step::Done {
                    epoch: user.session_epoch,
                    method,
                }
            }
            Check::Wrong => Step::Wrong,
            Check::Throttled { retry_at } => Step::Throttled(retry_at),
        })
    })
    .await?;
    match step {
        Step::Done { epoch, method } => {
            session::begin(&session, user_id, epoch, AMR_WITH_CODE)?;
            if let Method::RecoveryCode { left } = method {
                crate::web::routes::form::flash(
                    &session,
                    format!("You signed in with a recovery code; {left} left. Set up your authenticator again under Personal > Security if you lost it."),
                );
            }
            Ok(see_other(&next))
        }
        Step::Wrong => code_page(
            &session,
            StatusCode::UNAUTHORIZED,
            Some("That code is not right. Enter the 6-digit code your app shows now, or a recovery code.".into()),
        ),
        Step::Throttled(retry_at) => {
            let wait = Verdict::Refused { retry_at }.retry_after_secs(Utc::now().naive_utc());
            let mut response = code_page(
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                Some(format!("Too many wrong codes. Try again in {}.", in_words(wait))),
            )?;
            crate::web::error::retry_after(&mut response, wait);
            Ok(response)
        }
        Step::Stale => {
            session.purge();
            Ok(see_other("/login"))
        }
    }
}
