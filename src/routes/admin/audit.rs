//! `/admin/audit`: the audit log, newest first.

use actix_web::{HttpResponse, get, web};
use askama::Template;

use crate::auth::session::AdminViewer;
use crate::db::{
    self,
    models::audit_events::{self, AuditEventRow},
};
use crate::error::AppError;
use crate::routes::page::{Layout, render};
use crate::startup::AppState;

#[derive(Template)]
#[template(path = "admin/audit/list.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<AuditEventRow>,
}

#[get("/admin/audit")]
pub async fn list(
    AdminViewer(user): AdminViewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let events = db::run(&state.pool, |conn| {
        audit_events::list_recent(conn, None, 100)
    })
    .await?;
    render(&AuditPage {
        layout: Layout::for_user(&user, "audit"),
        events,
    })
}
