//! `/account/authorized-apps`: Personal > Authorized applications.

use actix_web::{HttpResponse, get};

use crate::auth::session::SessionUser;
use crate::error::AppError;
use crate::routes::page::{Layout, Placeholder, render};

#[get("/account/authorized-apps")]
pub async fn list(user: SessionUser) -> Result<HttpResponse, AppError> {
    render(&Placeholder {
        layout: Layout::for_user(&user, "authorized-apps"),
        heading: "Authorized applications",
        summary: "Applications you have approved will be listed here; you can revoke each of them at any time.",
    })
}
