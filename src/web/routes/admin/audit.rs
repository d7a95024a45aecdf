//! `/admin/audit`: the audit log, newest first, filtered by action, client, user and date
//! range, paged by event id, and exported as CSV with the same filters.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use crate::audit;
use crate::db::{
    self,
    models::audit_events::{self, AuditEventRow, AuditFilter},
};
use crate::domain::FieldErrors;
use crate::web::error::AppError;
use crate::web::routes::page::{Layout, render_form};
use crate::web::session::AdminViewer;
use crate::web::state::AppState;

const PER_PAGE: i64 = 50;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<String>,
}

impl AuditQuery {
    /// The filter, or messages for the fields that could not be read.
    fn filter(&self) -> Result<AuditFilter, FieldErrors> {
        let mut filter = audit::FilterInput {
            action: &self.action,
            client: &self.client,
            user: &self.user,
            from: &self.from,
            to: &self.to,
        }
        .filter()?;
        filter.before_id = self.before.as_deref().and_then(|b| b.parse().ok());
        Ok(filter)
    }

    /// The query string for these filters (without the page cursor).
    fn to_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("action", &self.action),
            ("client", &self.client),
            ("user", &self.user),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                q.append_pair(k, v.trim());
            }
        }
        q.finish()
    }
}

#[derive(Template)]
#[template(path = "admin/audit/list.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<AuditEventRow>,
    query: AuditQuery,
    errors: FieldErrors,
    actions: &'static [&'static str],
    next_page: Option<String>,
    first_page: Option<String>,
    export_link: String,
}

#[get("/admin/audit")]
pub async fn list(
    AdminViewer(user): AdminViewer,
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filters = query.to_query();
    let (events, errors) = match query.filter() {
        Ok(filter) => {
            let rows = db::run(&state.pool, move |conn| {
                audit_events::search(conn, &filter, PER_PAGE + 1)
            })
            .await?;
            (rows, FieldErrors::default())
        }
        Err(errors) => (Vec::new(), errors),
    };
    let mut events = events;
    let more = events.len() as i64 > PER_PAGE;
    events.truncate(PER_PAGE as usize);
    let sep = if filters.is_empty() { "" } else { "&" };
    let next_page = more
        .then(|| {
            events
                .last()
                .map(|e| format!("/admin/audit?{filters}{sep}before={}", e.id))
        })
        .flatten();
    let first_page = query
        .before
        .is_some()
        .then(|| format!("/admin/audit?{filters}"));
    let page = AuditPage {
        layout: Layout::for_user(&user, "audit").with_flash(&session),
        events,
        errors,
        actions: audit::ACTIONS,
        next_page,
        first_page,
        export_link: format!("/admin/audit.csv?{filters}"),
        query,
    };
    render_form(&page.errors, &page)
}

/// A CSV cell that a spreadsheet will not run as a formula (the one rule, in `audit`).
pub fn cell(value: &str) -> String {
    audit::csv_cell(value)
}

#[get("/admin/audit.csv")]
pub async fn export(
    AdminViewer(_user): AdminViewer,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let mut filter = query.filter().map_err(|e| {
        AppError::BadRequest(format!("The filter could not be read: {}", first(&e)))
    })?;
    filter.before_id = None;
    let rows = db::run(&state.pool, move |conn| audit::export(conn, &filter)).await?;
    let body = match rows {
        Ok(rows) => audit::to_csv(&rows)
            .map_err(|e| AppError::Internal(format!("CSV export failed: {e}")))?,
        Err(too_many) => return Err(AppError::BadRequest(too_many)),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"consentry-audit.csv\"",
        ))
        .body(body))
}

fn first(errors: &FieldErrors) -> String {
    ["from", "to", "action"]
        .iter()
        .find_map(|f| errors.get(f).map(|m| format!("{f}: {m}")))
        .unwrap_or_default()
}
