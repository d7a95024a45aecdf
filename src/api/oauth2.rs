//! The admin API, `OAuth2.*`: what the console's client pages, General settings and audit
//! log do, for deployment scripts holding a `matomo:superuser` token of a superuser. Each
//! method goes through the same rules as the console and the command line (the client
//! registrar, `SettingsInput`, `audit::FilterInput`), writes the same audit events with the
//! actor `<login> via <client_id>`, and refuses bad input with 400 naming the parameter.

use diesel::MysqlConnection;
use serde_json::{Value, json};

use super::{ApiError, Caller};
use crate::audit::{self, Actor};
use crate::db::models;
use crate::domain::{ClientStatus, FieldErrors};
use crate::oauth::clients::{self as registrar, ClientError, ClientInput, RotationRequest};
use crate::oauth::params::Params;
use crate::oauth::settings::{Settings, SettingsInput};

/// Every admin method, for the unknown-method message.
pub const METHODS: [&str; 11] = [
    "OAuth2.getClients",
    "OAuth2.getClient",
    "OAuth2.createClient",
    "OAuth2.updateClient",
    "OAuth2.pauseClient",
    "OAuth2.resumeClient",
    "OAuth2.deleteClient",
    "OAuth2.rotateSecret",
    "OAuth2.getSettings",
    "OAuth2.setSettings",
    "OAuth2.getAuditLog",
];

/// A page of `OAuth2.getClients` and `OAuth2.getAuditLog` holds at most this many.
const MAX_LIMIT: i64 = 1000;

/// Runs an `OAuth2.*` method; `None` when `method` is none of them.
pub fn call(
    conn: &mut MysqlConnection,
    caller: &Caller,
    ip: &str,
    method: &str,
    params: &Params,
) -> Option<Result<Value, ApiError>> {
    if !METHODS.contains(&method) {
        return None;
    }
    Some(caller.require_superuser().and_then(|()| {
        let actor = Actor::via_client(&caller.login, &caller.client_id).from_ip(ip);
        run(conn, caller, &actor, method, params)
    }))
}

fn run(
    conn: &mut MysqlConnection,
    caller: &Caller,
    actor: &Actor,
    method: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    match method {
        "OAuth2.getClients" => get_clients(conn, params),
        "OAuth2.getClient" => Ok(registrar::client_json(&find(conn, params)?)),
        "OAuth2.createClient" => create_client(conn, caller, actor, params),
        "OAuth2.updateClient" => update_client(conn, actor, params),
        "OAuth2.pauseClient" => set_status(conn, actor, params, ClientStatus::Paused),
        "OAuth2.resumeClient" => set_status(conn, actor, params, ClientStatus::Active),
        "OAuth2.deleteClient" => {
            let id = client_id(params)?;
            registrar::delete(conn, id, actor).map_err(client_error)?;
            Ok(json!({ "result": "success", "message": "ok" }))
        }
        "OAuth2.rotateSecret" => rotate_secret(conn, actor, params),
        "OAuth2.getSettings" => Ok(Settings::load(conn)?.as_json()),
        "OAuth2.setSettings" => set_settings(conn, actor, params),
        _ => get_audit_log(conn, params),
    }
}

fn client_id(params: &Params) -> Result<&str, ApiError> {
    params
        .get("clientId")
        .ok_or_else(|| ApiError::bad_parameter("clientId", "is required"))
}

fn find(conn: &mut MysqlConnection, params: &Params) -> Result<crate::domain::Client, ApiError> {
    let id = client_id(params)?;
    models::clients::find_by_client_id(conn, id)?
        .ok_or_else(|| ApiError::bad_parameter("clientId", format!("no client has ID '{id}'")))
}

/// `limit` (1 to 1000, 100 by default) and `offset`.
fn page(params: &Params) -> Result<(i64, i64), ApiError> {
    let number =
        |name: &str, default: i64, range: std::ops::RangeInclusive<i64>| match params.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    ApiError::bad_parameter(
                        name,
                        format!(
                            "use a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        };
    Ok((
        number("limit", 100, 1..=MAX_LIMIT)?,
        // An offset is read past, so it is bounded like an export.
        number("offset", 0, 0..=crate::audit::EXPORT_LIMIT)?,
    ))
}

/// `OAuth2.getClients`: filtered as on Manage clients (`status`, `q` for part of the name
/// or the start of the client ID), by name.
fn get_clients(conn: &mut MysqlConnection, params: &Params) -> Result<Value, ApiError> {
    let (limit, offset) = page(params)?;
    let status = match params.get("status") {
        None | Some("") => None,
        Some(raw) => Some(
            ClientStatus::parse(raw)
                .map_err(|_| ApiError::bad_parameter("status", "use active or paused"))?,
        ),
    };
    let filter = models::clients::ClientFilter {
        status,
        text: params
            .get("q")
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| q.chars().take(64).collect()),
    };
    let clients = models::clients::search(conn, &filter, limit, offset)?;
    Ok(Value::Array(
        clients.iter().map(registrar::client_json).collect(),
    ))
}

/// A client's form fields as the API names them.
const CLIENT_PARAMETERS: [(&str, &str); 16] = [
    ("name", "name"),
    ("description", "description"),
    ("client_type", "type"),
    ("grant_types", "grantTypes"),
    ("scopes", "scopes"),
    ("redirect_uris", "redirectUris"),
    ("post_logout_redirect_uris", "postLogoutRedirectUris"),
    ("access_token_lifetime", "accessTokenLifetime"),
    ("refresh_token_lifetime", "refreshTokenLifetime"),
    ("homepage_url", "homepageUrl"),
    ("icon_url", "iconUrl"),
    ("secret_expires", "secretExpires"),
    ("site_ids", "sites"),
    ("privacy_url", "privacyUrl"),
    ("terms_url", "termsUrl"),
    ("owner", "owner"),
];

fn parameter_of(field: &str) -> &'static str {
    CLIENT_PARAMETERS
        .iter()
        .find(|(f, _)| *f == field)
        .map_or("name", |(_, p)| p)
}

fn form_error(errors: FieldErrors) -> ApiError {
    let (field, message) = errors.first().unwrap_or(("name", "is invalid"));
    ApiError::bad_parameter(parameter_of(field), message)
}

fn client_error(e: ClientError) -> ApiError {
    match e {
        ClientError::Invalid { field, message } => {
            let name = match field {
                "grant" => "grantTypes",
                "scope" => "scopes",
                "redirect-uri" => "redirectUris",
                "type" => "type",
                "client_id" => "clientId",
                other => parameter_of(other),
            };
            ApiError::bad_parameter(name, message)
        }
        ClientError::UnknownClient(id) => {
            ApiError::bad_parameter("clientId", format!("no client has ID '{id}'"))
        }
        ClientError::Db(e) => ApiError::Db(e),
    }
}

/// A list parameter: separated by commas, spaces or new lines.
fn list(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn switch(params: &Params, name: &str) -> Result<Option<bool>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some("1" | "true") => Ok(Some(true)),
        Some("0" | "false") => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_parameter(name, "use 1 or 0")),
    }
}

/// The parameters given, typed over `input` (what is not given stays).
fn typed_over(mut input: ClientInput, params: &Params) -> Result<ClientInput, ApiError> {
    let text = |field: &mut String, name: &str| {
        if let Some(value) = params.get(name) {
            *field = value.to_string();
        }
    };
    text(&mut input.name, "name");
    text(&mut input.description, "description");
    text(&mut input.client_type, "type");
    text(&mut input.access_token_lifetime, "accessTokenLifetime");
    text(&mut input.refresh_token_lifetime, "refreshTokenLifetime");
    text(&mut input.homepage_url, "homepageUrl");
    text(&mut input.icon_url, "iconUrl");
    text(&mut input.secret_expires, "secretExpires");
    text(&mut input.site_ids, "sites");
    text(&mut input.privacy_url, "privacyUrl");
    text(&mut input.terms_url, "termsUrl");
    if let Some(raw) = params.get("grantTypes") {
        input.grant_types = list(raw);
    }
    if let Some(raw) = params.get("scopes") {
        input.scopes = list(raw);
    }
    if let Some(raw) = params.get("redirectUris") {
        input.redirect_uris = list(raw).join("\n");
    }
    if let Some(raw) = params.get("postLogoutRedirectUris") {
        input.post_logout_redirect_uris = list(raw).join("\n");
    }
    for (name, field) in [
        ("trusted", &mut input.trusted),
        ("requirePkce", &mut input.require_pkce),
        ("mayIntrospectAny", &mut input.may_introspect_any),
    ] {
        if let Some(value) = switch(params, name)? {
            *field = value;
        }
    }
    Ok(input)
}

/// `OAuth2.createClient`: returns the client ID and, for a confidential client, its secret
/// (this once). The owner is the calling superuser unless `owner` names another.
fn create_client(
    conn: &mut MysqlConnection,
    caller: &Caller,
    actor: &Actor,
    params: &Params,
) -> Result<Value, ApiError> {
    let settings = Settings::load(conn)?;
    let spec = typed_over(ClientInput::default(), params)?
        .parse(&settings)
        .map_err(form_error)?;
    let owner = registrar::owner(conn, Some(params.get("owner").unwrap_or(&caller.login)))?
        .map_err(|e| ApiError::bad_parameter("owner", e))?;
    let created = registrar::create(conn, &spec, owner.id, actor).map_err(client_error)?;
    Ok(json!({
        "client_id": created.client_id.as_str(),
        "client_secret": created.secret.as_ref().map(|s| s.expose()),
    }))
}

/// `OAuth2.updateClient`: what a parameter names is replaced, the rest stays (the same
/// rules and revocations as the console's edit form).
fn update_client(
    conn: &mut MysqlConnection,
    actor: &Actor,
    params: &Params,
) -> Result<Value, ApiError> {
    let before = find(conn, params)?;
    let settings = Settings::load(conn)?;
    let spec = typed_over(ClientInput::from_row(&before), params)?
        .parse(&settings)
        .map_err(form_error)?;
    let updated = registrar::update(conn, &before.client_id, &spec, actor).map_err(client_error)?;
    let after = find(conn, params)?;
    let mut body = registrar::client_json(&after);
    body["grants_revoked"] = json!(updated.grants_revoked);
    if let Some(secret) = updated.secret {
        // Made confidential: its new secret, this once.
        body["client_secret"] = json!(secret.expose());
    }
    Ok(body)
}

fn set_status(
    conn: &mut MysqlConnection,
    actor: &Actor,
    params: &Params,
    status: ClientStatus,
) -> Result<Value, ApiError> {
    let id = client_id(params)?;
    registrar::set_status(conn, id, status, actor).map_err(client_error)?;
    Ok(json!({ "result": "success", "message": "ok" }))
}

/// `OAuth2.rotateSecret`: `grace` (none, 1h, 24h, 7d), `expires` (a date, or never;
/// absent: the current expiry if ahead), `revokeTokens`. The new secret, this once.
fn rotate_secret(
    conn: &mut MysqlConnection,
    actor: &Actor,
    params: &Params,
) -> Result<Value, ApiError> {
    let id = client_id(params)?;
    let request = RotationRequest::parse(
        params.get("grace").unwrap_or("none"),
        params.get("expires"),
        switch(params, "revokeTokens")?.unwrap_or(false),
    )
    .map_err(|errors| {
        let (field, message) = errors.first().unwrap_or(("grace", "is invalid"));
        ApiError::bad_parameter(field, message)
    })?;
    let rotated = registrar::rotate_secret(conn, id, &request, actor).map_err(client_error)?;
    let client = find(conn, params)?;
    Ok(json!({
        "client_id": id,
        "client_secret": rotated.secret.expose(),
        "previous_secret_valid_until": rotated.previous_until.map(crate::domain::rfc3339),
        "secret_expires_at": client.secret_expires_at.map(crate::domain::rfc3339),
        "grants_revoked": rotated.grants_revoked,
    }))
}

/// `OAuth2.setSettings`: the settings named (as `OAuth2.getSettings` names them) are
/// replaced, the rest stay; validated as the General settings form is, all or nothing.
fn set_settings(
    conn: &mut MysqlConnection,
    actor: &Actor,
    params: &Params,
) -> Result<Value, ApiError> {
    let current = Settings::load(conn)?;
    let mut input = SettingsInput::from(&current);
    let mut given = 0;
    for name in SettingsInput::NAMES {
        if let Some(value) = params.get(name) {
            input
                .set(name, value)
                .map_err(|e| ApiError::bad_parameter(name, e))?;
            given += 1;
        }
    }
    if given == 0 {
        return Err(ApiError::BadRequest(format!(
            "Name at least one setting: {}.",
            SettingsInput::NAMES.join(", ")
        )));
    }
    let settings = input.validate().map_err(|errors| {
        let (field, message) = errors.first().unwrap_or(("settings", "is invalid"));
        ApiError::bad_parameter(field, message)
    })?;
    let changed = settings.save(conn, actor)?;
    let mut body = Settings::load(conn)?.as_json();
    body["changed"] = json!(changed);
    Ok(body)
}

/// `OAuth2.getAuditLog`: filtered as on the audit log page (`action`, `clientId`, `user`,
/// `since` and `until` as YYYY-MM-DD), newest first, a page at a time.
fn get_audit_log(conn: &mut MysqlConnection, params: &Params) -> Result<Value, ApiError> {
    let (limit, offset) = page(params)?;
    let text = |name: &str| params.get(name).unwrap_or("");
    let filter = audit::FilterInput {
        action: text("action"),
        client: text("clientId"),
        user: text("user"),
        from: text("since"),
        to: text("until"),
    }
    .filter()
    .map_err(|errors| {
        let (field, message) = errors.first().unwrap_or(("action", "is invalid"));
        let name = match field {
            "from" => "since",
            "to" => "until",
            "client" => "clientId",
            other => other,
        };
        ApiError::bad_parameter(name, message)
    })?;
    let rows = models::audit_events::search(conn, &filter, limit + offset)?;
    let rows: Vec<_> = rows.into_iter().skip(offset as usize).collect();
    Ok(audit::to_json(&rows))
}
