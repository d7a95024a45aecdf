//! What every console page shares: the layout data for `base.html` and HTML rendering.

use actix_web::HttpResponse;
use askama::Template;

use crate::domain::Role;
use crate::web::error::AppError;
use crate::web::session::SessionUser;

/// The signed-in user as the navigation shows them.
pub struct NavUser {
    pub login: String,
    pub role: Role,
}

/// Data for `base.html`: who is signed in, the CSRF token for the sign-out form, which
/// navigation entry is current, and an optional success message.
pub struct Layout {
    pub user: Option<NavUser>,
    pub csrf_token: String,
    pub section: &'static str,
    pub flash: Option<String>,
}

impl Layout {
    pub fn for_user(user: &SessionUser, section: &'static str) -> Self {
        Self {
            user: Some(NavUser {
                login: user.login.clone(),
                role: user.role,
            }),
            csrf_token: user.csrf_token.clone(),
            section,
            flash: None,
        }
    }

    /// Shows the success message left by the previous POST, once.
    pub fn with_flash(mut self, session: &actix_session::Session) -> Self {
        self.flash = crate::web::routes::form::take_flash(session);
        self
    }

    /// Whether controls that change something are shown (superusers only).
    pub fn can_manage(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role.can_manage())
    }

    pub fn anonymous(csrf_token: String) -> Self {
        Self {
            user: None,
            csrf_token,
            section: "",
            flash: None,
        }
    }
}

/// Renders a template as an HTML response with the given status.
pub fn render_with(
    status: actix_web::http::StatusCode,
    template: &impl Template,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(template.render()?))
}

pub fn render(template: &impl Template) -> Result<HttpResponse, AppError> {
    render_with(actix_web::http::StatusCode::OK, template)
}

/// Renders a form page: 200, or 422 when it carries field errors to correct.
pub fn render_form(
    errors: &crate::domain::FieldErrors,
    template: &impl Template,
) -> Result<HttpResponse, AppError> {
    let status = if errors.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    render_with(status, template)
}

/// A 303 redirect, used after every successful POST.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}
