//! `/admin/oauth2/clients`: Administration > Platform > OAuth 2.0 (Manage OAuth 2.0 clients).

use actix_web::{HttpResponse, get};

use crate::auth::session::AdminViewer;
use crate::error::AppError;
use crate::routes::page::{Layout, Placeholder, render};

#[get("/admin/oauth2/clients")]
pub async fn list(AdminViewer(user): AdminViewer) -> Result<HttpResponse, AppError> {
    render(&Placeholder {
        layout: Layout::for_user(&user, "clients"),
        heading: "Manage OAuth 2.0 clients",
        summary: "Registered applications will be listed here, with pause, resume, edit and delete.",
    })
}
