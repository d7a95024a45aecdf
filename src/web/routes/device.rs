//! `/device`: where a user types the code a device shows (RFC 8628 §3.3), then answers the
//! consent screen for it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

use crate::db;
use crate::domain::{FieldErrors, UserCode};
use crate::oauth::device::{self, EntryRefusal};
use crate::web::csrf::CsrfForm;
use crate::web::error::{AppError, retry_after};
use crate::web::routes::form::Fields;
use crate::web::routes::oauth::authorize::ConsentPage;
use crate::web::routes::page::{Layout, render, render_with};
use crate::web::session::SessionUser;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    layout: Layout,
    /// The code as typed (or from `verification_uri_complete`).
    user_code: String,
    /// `allowed` or `denied` after the consent screen.
    answer: String,
    errors: FieldErrors,
}

#[derive(serde::Deserialize)]
pub struct Query {
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    answer: String,
}

#[get("/device")]
pub async fn show(user: SessionUser, query: web::Query<Query>) -> Result<HttpResponse, AppError> {
    let Query { user_code, answer } = query.into_inner();
    // Only a code of the right shape is put back into the page.
    let user_code = UserCode::parse(&user_code)
        .map(|c| c.to_string())
        .unwrap_or_default();
    let answer = match answer.as_str() {
        "allowed" | "denied" => answer,
        _ => String::new(),
    };
    render(&DevicePage {
        layout: Layout::for_user(&user, ""),
        user_code,
        answer,
        errors: FieldErrors::default(),
    })
}

#[post("/device")]
pub async fn enter(
    user: SessionUser,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let typed = fields.text("user_code");
    let (user_id, role, code) = (user.id, user.role, typed.clone());
    let entered = db::run(&state.pool, move |conn| {
        device::enter(conn, &code, user_id, role)
    })
    .await?;
    let (status, message, wait) = match entered {
        Ok(prompt) => return render(&ConsentPage::new(&user, prompt)),
        Err(EntryRefusal::Wrong(message)) => (StatusCode::UNPROCESSABLE_ENTITY, message, None),
        Err(EntryRefusal::Throttled(seconds)) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong codes: try again in {}.",
                crate::web::routes::login::in_words(seconds)
            ),
            Some(seconds),
        ),
    };
    let page = DevicePage {
        layout: Layout::for_user(&user, ""),
        user_code: typed.chars().take(20).collect(),
        answer: String::new(),
        errors: FieldErrors::one("user_code", message),
    };
    let mut response = render_with(status, &page)?;
    if let Some(seconds) = wait {
        retry_after(&mut response, seconds);
    }
    Ok(response)
}
