//! A client's page (for support staff as much as superusers): status and its history,
//! holdings, a 30-day chart of issued tokens; and, for superusers, the secret's rotation
//! (with a grace period, the previous secret's early end) and the one-time credentials page.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::{Duration, NaiveDate};

use super::{ClientView, detail_path, load};
use crate::audit::{self, Actor};
use crate::db::models::client_usage::Holdings;
use crate::db::{self, models, models::audit_events::AuditEventRow};
use crate::domain::{Client, FieldErrors, SecretGrace};
use crate::oauth::clients::{self as registrar, RotationRequest};
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render, render_form, see_other};
use crate::web::routes::reveal;
use crate::web::session::{AdminViewer, SessionUser, Superuser};
use crate::web::state::AppState;

const CHART_DAYS: i64 = 30;

/// One day's bar in the chart, in SVG user units.
pub struct Bar {
    pub day: NaiveDate,
    pub issued: i64,
    pub x: i64,
    pub y: i64,
    pub height: i64,
}

/// The inline SVG chart's data: drawn by the template, no script and no library.
pub struct Chart {
    pub bars: Vec<Bar>,
    pub max: i64,
    pub total: i64,
}

pub const CHART_HEIGHT: i64 = 120;
pub const BAR_WIDTH: i64 = 16;

impl Chart {
    fn new(counts: &[(NaiveDate, i64)], today: NaiveDate) -> Self {
        let days: Vec<NaiveDate> = (0..CHART_DAYS)
            .rev()
            .map(|back| today - Duration::days(back))
            .collect();
        let issued = |day: &NaiveDate| counts.iter().find(|(d, _)| d == day).map_or(0, |(_, n)| *n);
        let max = days.iter().map(issued).max().unwrap_or(0);
        let bars = days
            .iter()
            .enumerate()
            .map(|(i, day)| {
                let n = issued(day);
                let height = if max == 0 {
                    0
                } else {
                    (n * CHART_HEIGHT + max - 1) / max
                };
                Bar {
                    day: *day,
                    issued: n,
                    x: i as i64 * (BAR_WIDTH + 4),
                    y: CHART_HEIGHT - height,
                    height,
                }
            })
            .collect();
        Self {
            bars,
            max,
            total: days.iter().map(issued).sum(),
        }
    }

    pub fn width(&self) -> i64 {
        CHART_DAYS * (BAR_WIDTH + 4)
    }
}

#[derive(Template)]
#[template(path = "admin/clients/show.html")]
struct DetailPage {
    layout: Layout,
    client: ClientView,
    owner: Option<String>,
    history: Vec<AuditEventRow>,
    held: Holdings,
    /// Live grants limited to chosen websites.
    limited: i64,
    chart: Chart,
    chart_height: i64,
    bar_width: i64,
}

#[get("/admin/oauth2/clients/{client_id}")]
pub async fn show(
    AdminViewer(user): AdminViewer,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    let (id, client_id, owner_id) = (client.id, client.client_id.clone(), client.owner_id);
    let today = chrono::Utc::now().date_naive();
    let (owner, history, held, counts) = db::run(&state.pool, move |conn| {
        let owner = match owner_id {
            Some(owner) => models::users::find_by_id(conn, owner)?.map(|u| u.login),
            None => None,
        };
        let history = models::audit_events::status_history(
            conn,
            &client_id,
            &[
                audit::CLIENT_CREATED,
                audit::CLIENT_PAUSED,
                audit::CLIENT_RESUMED,
                audit::CLIENT_MADE_PUBLIC,
            ],
            50,
        )?;
        let held = models::client_usage::holdings(conn, id, models::now())?;
        let limited = models::grants::count_site_limited(conn, id, models::now())?;
        let since = today - Duration::days(CHART_DAYS - 1);
        let counts = models::client_usage::issued_per_day(conn, id, since)?;
        Ok((owner, history, (held, limited), counts))
    })
    .await?;
    let (held, limited) = held;
    render(&DetailPage {
        layout: Layout::for_user(&user, "clients").with_flash(&session),
        client: ClientView { row: client },
        owner,
        history,
        held,
        limited,
        chart: Chart::new(&counts, today),
        chart_height: CHART_HEIGHT,
        bar_width: BAR_WIDTH,
    })
}

#[derive(Template)]
#[template(path = "admin/clients/regenerate.html")]
struct RegeneratePage {
    layout: Layout,
    client: ClientView,
    graces: [SecretGrace; 4],
    /// The form as typed: grace, expiry, whether to revoke tokens.
    grace: String,
    expires: String,
    revoke_tokens: bool,
    errors: FieldErrors,
}

impl RegeneratePage {
    fn new(
        user: &SessionUser,
        client: Client,
        fields: Option<&Fields>,
        errors: FieldErrors,
    ) -> Self {
        let (grace, expires, revoke_tokens) = match fields {
            Some(f) => (
                f.text("grace"),
                f.text("expires"),
                f.checked("revoke_tokens"),
            ),
            None => (
                SecretGrace::None.as_str().to_string(),
                (client.secret_expires_at)
                    .filter(|at| *at > models::now())
                    .map(registrar::expiry_input)
                    .unwrap_or_default(),
                true,
            ),
        };
        Self {
            layout: Layout::for_user(user, "clients"),
            client: ClientView { row: client },
            graces: SecretGrace::ALL,
            grace,
            expires,
            revoke_tokens,
            errors,
        }
    }
}

#[get("/admin/oauth2/clients/{client_id}/secret")]
pub async fn confirm_regenerate(
    Superuser(user): Superuser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    if !client.is_confidential() {
        return Err(AppError::BadRequest(
            "A public client has no secret; edit it to make it confidential.".into(),
        ));
    }
    render(&RegeneratePage::new(
        &user,
        client,
        None,
        FieldErrors::default(),
    ))
}

#[post("/admin/oauth2/clients/{client_id}/secret")]
pub async fn regenerate(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    let ip = client_ip(&req);
    let request = RotationRequest::parse(
        &fields.text("grace"),
        Some(&fields.text("expires")),
        fields.checked("revoke_tokens"),
    );
    let confirmed = reauth::confirm(&state, &user, &req, &fields, reauth::FIELD).await?;
    let request = match (request, confirmed) {
        (Ok(request), Ok(())) => request,
        (request, confirmed) => {
            let mut errors = request.err().unwrap_or_default();
            errors.merge(confirmed.err().unwrap_or_default());
            let page = RegeneratePage::new(&user, client, Some(&fields), errors);
            return render_form(&page.errors, &page);
        }
    };
    let actor = Actor::new(&user.login).from_ip(ip);
    let id = client.client_id.clone();
    let rotated = db::run_with(&state.pool, move |conn| {
        registrar::rotate_secret(conn, &id, &request, &actor)
    })
    .await?;
    reveal::stash(&state, &session, &client.client_id, &rotated.secret).await?;
    Ok(see_other(&format!(
        "{}/credentials",
        detail_path(&client.client_id)
    )))
}

#[derive(Template)]
#[template(path = "admin/clients/credentials.html")]
struct CredentialsPage {
    layout: Layout,
    client: ClientView,
    secret: Option<String>,
}

/// Shows a new secret once: it is taken out of the session as it is rendered.
#[get("/admin/oauth2/clients/{client_id}/credentials")]
pub async fn credentials(
    Superuser(user): Superuser,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    let secret = reveal::take(&state, &session, &client.client_id).await?;
    render(&CredentialsPage {
        layout: Layout::for_user(&user, "clients"),
        client: ClientView { row: client },
        secret,
    })
}

#[derive(Template)]
#[template(path = "admin/clients/end_previous.html")]
struct EndPreviousPage {
    layout: Layout,
    client: ClientView,
    errors: FieldErrors,
}

impl EndPreviousPage {
    fn new(user: &SessionUser, client: Client, errors: FieldErrors) -> Self {
        Self {
            layout: Layout::for_user(user, "clients"),
            client: ClientView { row: client },
            errors,
        }
    }
}

#[get("/admin/oauth2/clients/{client_id}/secret/end-previous")]
pub async fn confirm_end_previous(
    Superuser(user): Superuser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    render(&EndPreviousPage::new(&user, client, FieldErrors::default()))
}

/// Ends the previous secret's grace period now (password confirmed): every server should
/// have switched to the new secret by then.
#[post("/admin/oauth2/clients/{client_id}/secret/end-previous")]
pub async fn end_previous(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    if let Err(errors) = reauth::confirm(&state, &user, &req, &fields, reauth::FIELD).await? {
        let page = EndPreviousPage::new(&user, client, errors);
        return render_form(&page.errors, &page);
    }
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let id = client.client_id.clone();
    let proto = state.protocol.clone();
    let uses = db::run_with(&state.pool, move |conn| {
        // This server's uses not written yet count too (the others' follow within seconds).
        let _ = crate::oauth::access::flush_last_used(conn, &proto);
        registrar::end_previous_secret(conn, &id, &actor)
    })
    .await?;
    flash(
        &session,
        format!(
            "The previous secret no longer works. It was used {uses} times since the rotation."
        ),
    );
    Ok(see_other(&detail_path(&client.client_id)))
}
