//! Create and edit a client. Both ask for the superuser's password on the same form; a
//! confidential client's new secret is shown once on the credentials page.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use super::{LIST_PATH, detail_path, load};
use crate::audit::Actor;
use crate::db;
use crate::domain::{Client, ClientType, FieldErrors, GrantType, Scope, SiteLimit};
use crate::oauth::clients::{self as registrar, ClientError, ClientInput};
use crate::oauth::settings::Settings;
use crate::web::csrf::CsrfForm;
use crate::web::error::AppError;
use crate::web::reauth;
use crate::web::routes::client_ip::client_ip;
use crate::web::routes::form::{Fields, flash};
use crate::web::routes::page::{Layout, render_form, see_other};
use crate::web::routes::reveal;
use crate::web::session::{SessionUser, Superuser};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "admin/clients/form.html")]
struct ClientFormPage {
    layout: Layout,
    /// `None` when creating.
    client_id: Option<String>,
    form: ClientInput,
    errors: FieldErrors,
    scopes: Vec<Scope>,
    grants: [GrantType; 4],
    /// Every website, to tick the ones its client credentials tokens may act on.
    sites: Vec<db::models::sites::SiteRow>,
}

impl ClientFormPage {
    fn meaning(&self, seconds: &str) -> String {
        crate::domain::typed_duration_meaning(seconds)
    }

    fn action(&self) -> String {
        match &self.client_id {
            Some(id) => format!("{}/edit", detail_path(id)),
            None => format!("{LIST_PATH}/new"),
        }
    }

    fn has_grant(&self, grant: &GrantType) -> bool {
        self.form.grant_types.iter().any(|g| g == grant.as_str())
    }

    fn has_scope(&self, scope: &Scope) -> bool {
        self.form.scopes.iter().any(|s| s == scope.as_str())
    }

    fn is_type(&self, kind: &str) -> bool {
        self.form.client_type == kind
    }

    /// "Only the websites ticked below" was chosen (or is stored): what the shared rule reads
    /// as a limit, or refuses (none ticked, a bad ID) when the form comes back.
    fn sites_limited(&self) -> bool {
        SiteLimit::parse(&self.form.site_ids).map_or(true, |l| l.is_limited())
    }

    fn site_ticked(&self, id: &i64) -> bool {
        SiteLimit::parse(&self.form.site_ids).is_ok_and(|l| l.is_limited() && l.allows(*id))
    }

    fn grant_help(grant: &GrantType) -> &'static str {
        match grant {
            GrantType::AuthorizationCode => {
                "Used when an application requests authorisation before accessing the API."
            }
            GrantType::ClientCredentials => {
                "Used for server-to-server access without user interaction (confidential clients only)."
            }
            GrantType::RefreshToken => {
                "Allows the client to automatically request a new access token when the current token expires."
            }
            GrantType::DeviceCode => {
                "For devices and command-line tools without a browser: the user enters a code at /device on another screen (RFC 8628)."
            }
        }
    }
}

fn input_from(fields: &Fields) -> ClientInput {
    input_for(fields, None)
}

/// The form as posted; whether native redirect schemes are allowed and the expiry that may
/// stay come from the stored client, not the form.
fn input_for(fields: &Fields, stored: Option<&Client>) -> ClientInput {
    ClientInput {
        name: fields.text("name"),
        description: fields.text("description"),
        client_type: fields.text("client_type"),
        grant_types: fields.all("grant_types"),
        scopes: fields.all("scopes"),
        redirect_uris: fields.text("redirect_uris"),
        post_logout_redirect_uris: fields.text("post_logout_redirect_uris"),
        access_token_lifetime: fields.text("access_token_lifetime"),
        require_pkce: fields.checked("require_pkce"),
        refresh_token_lifetime: fields.text("refresh_token_lifetime"),
        trusted: fields.checked("trusted"),
        may_introspect_any: fields.checked("may_introspect_any"),
        homepage_url: fields.text("homepage_url"),
        icon_url: fields.text("icon_url"),
        privacy_url: fields.text("privacy_url"),
        terms_url: fields.text("terms_url"),
        secret_expires: fields.text("secret_expires"),
        site_ids: ticked_sites(fields),
        kept_secret_expiry: stored.and_then(|c| c.secret_expires_at),
        native_redirects: stored.is_some_and(|c| c.self_registered),
    }
}

/// The websites ticked for client credentials tokens, as the CLI and the API type them:
/// empty for all; with "only the ticked ones" and none ticked, a list with no ID (",") so
/// that the shared rule refuses it rather than reading it as all.
fn ticked_sites(fields: &Fields) -> String {
    if fields.text("sites") != "chosen" {
        return String::new();
    }
    match fields.all("site").join(",") {
        none if none.is_empty() => ",".into(),
        ticked => ticked,
    }
}

async fn page(
    state: &AppState,
    user: &SessionUser,
    client_id: Option<String>,
    form: ClientInput,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let (settings, sites) = db::run(&state.pool, |conn| {
        Ok((Settings::load(conn)?, db::models::sites::list(conn)?))
    })
    .await?;
    let page = ClientFormPage {
        layout: Layout::for_user(user, "clients"),
        client_id,
        form,
        scopes: settings.allowed_scopes,
        grants: GrantType::ALL,
        sites,
        errors,
    };
    render_form(&page.errors, &page)
}

/// Validates the form and the password; `Err` is the page to show again.
async fn checked(
    state: &AppState,
    user: &SessionUser,
    req: &HttpRequest,
    input: ClientInput,
    fields: &Fields,
) -> Result<Result<registrar::ClientSpec, FieldErrors>, AppError> {
    let settings = db::run(&state.pool, Settings::load).await?;
    let spec = match input.parse(&settings) {
        Ok(spec) => spec,
        Err(errors) => return Ok(Err(errors)),
    };
    // Only a valid form spends a password attempt.
    Ok(reauth::confirm(state, user, req, fields, reauth::FIELD)
        .await?
        .map(|()| spec))
}

#[get("/admin/oauth2/clients/new")]
pub async fn new(
    Superuser(user): Superuser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let form = ClientInput {
        client_type: ClientType::Confidential.as_str().into(),
        grant_types: vec![
            GrantType::AuthorizationCode.as_str().into(),
            GrantType::RefreshToken.as_str().into(),
        ],
        scopes: vec![Scope::Read.as_str().into()],
        ..ClientInput::default()
    };
    page(&state, &user, None, form, FieldErrors::default()).await
}

#[post("/admin/oauth2/clients/new")]
pub async fn create(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let spec = match checked(&state, &user, &req, input_from(&fields), &fields).await? {
        Ok(spec) => spec,
        Err(errors) => return page(&state, &user, None, input_from(&fields), errors).await,
    };
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let owner = user.id;
    let created = match db::run_with(&state.pool, move |conn| {
        registrar::create(conn, &spec, owner, &actor)
    })
    .await
    {
        Ok(created) => created,
        // A website the limit names does not exist (known only to the database).
        Err(ClientError::Invalid { field, message }) => {
            let errors = FieldErrors::one(field, message);
            return page(&state, &user, None, input_from(&fields), errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    let id = created.client_id.to_string();
    match created.secret {
        Some(secret) => {
            reveal::stash(&state, &session, &id, &secret).await?;
            Ok(see_other(&format!("{}/credentials", detail_path(&id))))
        }
        None => {
            flash(
                &session,
                "The public client was created. It has no secret and must use PKCE.",
            );
            Ok(see_other(&detail_path(&id)))
        }
    }
}

#[get("/admin/oauth2/clients/{client_id}/edit")]
pub async fn edit(
    Superuser(user): Superuser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    let form = ClientInput::from_row(&client);
    page(
        &state,
        &user,
        Some(client.client_id),
        form,
        FieldErrors::default(),
    )
    .await
}

#[post("/admin/oauth2/clients/{client_id}/edit")]
pub async fn update(
    Superuser(user): Superuser,
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Fields>,
) -> Result<HttpResponse, AppError> {
    let client = load(&state, &path).await?;
    let spec = match checked(
        &state,
        &user,
        &req,
        input_for(&fields, Some(&client)),
        &fields,
    )
    .await?
    {
        Ok(spec) => spec,
        Err(errors) => {
            let input = input_for(&fields, Some(&client));
            return page(&state, &user, Some(client.client_id), input, errors).await;
        }
    };
    let actor = Actor::new(&user.login).from_ip(client_ip(&req));
    let id = client.client_id.clone();
    let updated = match db::run_with(&state.pool, move |conn| {
        registrar::update(conn, &id, &spec, &actor)
    })
    .await
    {
        Ok(updated) => updated,
        Err(ClientError::Invalid { field, message }) => {
            let errors = FieldErrors::one(field, message);
            let input = input_for(&fields, Some(&client));
            return page(&state, &user, Some(client.client_id), input, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(secret) = updated.secret {
        reveal::stash(&state, &session, &client.client_id, &secret).await?;
        return Ok(see_other(&format!(
            "{}/credentials",
            detail_path(&client.client_id)
        )));
    }
    let mut message = String::from("The client was saved.");
    if updated.made_public {
        message.push_str(
            " It is now public: its secret was removed and every token it held was revoked.",
        );
    } else if updated.grants_revoked > 0 {
        message.push_str(&format!(
            " {} authorization(s) beyond its new scopes or grant types were revoked.",
            updated.grants_revoked
        ));
    }
    flash(&session, message);
    Ok(see_other(&detail_path(&client.client_id)))
}
