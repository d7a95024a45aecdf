//! `/admin/audit`: the audit log, newest first, filtered by action, client, user and date
//! range, paged by event id, and exported as CSV with the same filters.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};
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
/// The export stops here; narrow the filter for more.
const EXPORT_LIMIT: i64 = 100_000;

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
        let mut errors = FieldErrors::default();
        let date = |errors: &mut FieldErrors, field: &'static str, raw: &str| {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
            if parsed.is_none() {
                errors.add(field, "Enter a date as YYYY-MM-DD, such as 2026-11-24.");
            }
            parsed
        };
        let from = date(&mut errors, "from", &self.from);
        let to = date(&mut errors, "to", &self.to);
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            errors.add("to", "The end date must not be before the start date.");
        }
        let action = self.action.trim();
        if !action.is_empty() && !audit::ACTIONS.contains(&action) {
            errors.add("action", "Choose an action from the list.");
        }
        let text = |raw: &str| {
            let t = raw.trim();
            (!t.is_empty()).then(|| t.chars().take(190).collect::<String>())
        };
        errors.check(|| AuditFilter {
            action: text(action),
            client: text(&self.client),
            user: text(&self.user),
            from: from.map(start_of),
            // The end date is inclusive: everything before the next midnight.
            until: to.and_then(|d| d.succ_opt()).map(start_of),
            before_id: self.before.as_deref().and_then(|b| b.parse().ok()),
        })
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

fn start_of(day: NaiveDate) -> NaiveDateTime {
    day.and_hms_opt(0, 0, 0).unwrap_or_default()
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

/// A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection): a
/// leading `=`, `+`, `-`, `@`, tab or carriage return, even after spaces, gets a quote.
pub fn cell(value: &str) -> String {
    if value
        .trim_start_matches([' ', '\u{a0}'])
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        format!("'{value}")
    } else {
        value.to_string()
    }
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
    let rows = db::run(&state.pool, move |conn| {
        audit_events::search(conn, &filter, EXPORT_LIMIT + 1)
    })
    .await?;
    if rows.len() as i64 > EXPORT_LIMIT {
        return Err(AppError::BadRequest(format!(
            "More than {EXPORT_LIMIT} events match; narrow the date range and export each part."
        )));
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, record: &[String]| {
        out.write_record(record)
            .map_err(|e| AppError::Internal(format!("CSV export failed: {e}")))
    };
    write(
        &mut out,
        &[
            "time_utc",
            "actor",
            "action",
            "target_type",
            "target",
            "details",
            "client_address",
            "count",
        ]
        .map(String::from),
    )?;
    for e in rows {
        write(
            &mut out,
            &[
                e.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                cell(&e.actor),
                cell(&e.action),
                cell(e.target_type.as_deref().unwrap_or("")),
                cell(e.target_id.as_deref().unwrap_or("")),
                cell(&e.details.to_string()),
                cell(e.ip.as_deref().unwrap_or("")),
                e.repeat_count.to_string(),
            ],
        )?;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::Internal(format!("CSV export failed: {e}")))?;
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
