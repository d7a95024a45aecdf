//! `/admin/settings/oauth2`: Administration > System > General settings > OAuth 2.0.
//! Superusers edit; support staff see the same values read-only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use crate::audit::Actor;
use crate::db;
use crate::domain::{FieldErrors, IdentityScope, Scope, SigningAlg};
use crate::oauth::settings::{Settings, SettingsInput};
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render, render_with, see_other};
use crate::web::session::{AdminViewer, Superuser};
use crate::web::state::AppState;

const PATH: &str = "/admin/settings/oauth2";

#[derive(Template)]
#[template(path = "admin/settings/oauth2.html")]
struct SettingsPage {
    layout: Layout,
    form: SettingsInput,
    errors: FieldErrors,
    all_scopes: [Scope; 4],
    all_identity: [IdentityScope; 3],
    all_algs: [SigningAlg; 3],
}

impl SettingsPage {
    fn meaning(&self, seconds: &str) -> String {
        crate::domain::typed_duration_meaning(seconds)
    }

    fn scope_checked(&self, scope: &str) -> bool {
        self.form.allowed_scopes.iter().any(|s| s == scope)
    }
}

#[get("/admin/settings/oauth2")]
pub async fn show(
    AdminViewer(user): AdminViewer,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let settings = db::run(&state.pool, Settings::load).await?;
    render(&SettingsPage {
        layout: Layout::for_user(&user, "settings").with_flash(&session),
        form: SettingsInput::from(&settings),
        errors: FieldErrors::default(),
        all_scopes: Scope::ALL,
        all_identity: IdentityScope::ALL,
        all_algs: SigningAlg::ALL,
    })
}

#[post("/admin/settings/oauth2")]
pub async fn save(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let input = SettingsInput {
        access_token_lifetime: fields.text("access_token_lifetime"),
        refresh_token_lifetime: fields.text("refresh_token_lifetime"),
        auth_code_lifetime: fields.text("auth_code_lifetime"),
        auth_code_enabled: fields.checked("auth_code_enabled"),
        client_credentials_enabled: fields.checked("client_credentials_enabled"),
        refresh_tokens_enabled: fields.checked("refresh_tokens_enabled"),
        allowed_scopes: fields.all("allowed_scopes"),
        registration_enabled: fields.checked("registration_enabled"),
        registration_policy: fields.text("registration_policy"),
        audit_retention_days: fields.text("audit_retention_days"),
        allowed_app_schemes: fields.text("allowed_app_schemes"),
        signing_alg: fields.text("signing_alg"),
        require_2fa_superusers: fields.checked("require_2fa_superusers"),
        require_2fa_support: fields.checked("require_2fa_support"),
        device_flow_enabled: fields.checked("device_flow_enabled"),
    };
    // These settings can allow matomo:superuser, open registration or year-long tokens:
    // confirmed with the password like any client change.
    let validated = match input.validate() {
        Ok(settings) => reauth::confirm(&state, &user, &req, &fields, reauth::CONFIRM_FIELD)
            .await?
            .map(|()| settings),
        Err(errors) => Err(errors),
    };
    match validated {
        Ok(settings) => {
            let actor = Actor::new(&user.login).from_ip(client_ip(&req));
            let changed = db::run(&state.pool, move |conn| settings.save(conn, &actor)).await?;
            flash(
                &session,
                if changed {
                    "The OAuth 2.0 settings were saved."
                } else {
                    "Nothing changed: the settings already had these values."
                },
            );
            Ok(see_other(PATH))
        }
        Err(errors) => render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SettingsPage {
                layout: Layout::for_user(&user, "settings"),
                form: input,
                errors,
                all_scopes: Scope::ALL,
                all_identity: IdentityScope::ALL,
                all_algs: SigningAlg::ALL,
            },
        ),
    }
}
