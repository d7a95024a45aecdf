//! `/admin/settings/oauth2`: Administration > System > General settings > OAuth 2.0.

use actix_web::{HttpResponse, get};

use crate::auth::session::AdminViewer;
use crate::error::AppError;
use crate::routes::page::{Layout, Placeholder, render};

#[get("/admin/settings/oauth2")]
pub async fn show(AdminViewer(user): AdminViewer) -> Result<HttpResponse, AppError> {
    render(&Placeholder {
        layout: Layout::for_user(&user, "settings"),
        heading: "General settings: OAuth 2.0",
        summary: "Token lifetimes, enabled grants and allowed scopes will be edited here.",
    })
}
