//! Dynamic client registration (RFC 7591): metadata in, a new client out. Self-registered
//! clients have no owner, are never trusted, always need PKCE and may never use client
//! credentials. Open registration is rate-limited per address; otherwise the caller needs
//! an initial access token that a superuser created.

use chrono::Duration;
use diesel::MysqlConnection;
use serde_json::{Value, json};

use crate::audit::{self, Actor};
use crate::auth::throttle::{self, Bucket, Verdict};
use crate::db::DbError;
use crate::db::models;
use crate::domain::{
    ClientId, ClientName, ClientSecret, ClientType, GrantType, Identity, RedirectUri, Scope,
    ScopeRequest, parse_web_url,
};
use crate::oauth::clients::{self, ClientSpec, Origin};
use crate::oauth::settings::{GrantRefusal, RegistrationPolicy, Settings};
use crate::oauth::token_hash;

/// Open registration allows this many per address per second, and per hour (as Mattermost).
pub const PER_SECOND: i32 = 2;
pub const PER_HOUR: i32 = 20;

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("Dynamic client registration is disabled on this server.")]
    Disabled,
    /// RFC 7591 §3.2.2.
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// RFC 6750 §3.1: no credentials at all, so the challenge carries no error code.
    #[error(
        "Registration needs an initial access token: send it as Authorization: Bearer <token>."
    )]
    MissingToken,
    /// The initial access token is unknown, expired, used up or revoked.
    #[error("{0}")]
    InvalidToken(String),
    #[error("Too many registrations from this address; try again in {retry_after} seconds.")]
    RateLimited { retry_after: i64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RegistrationError {
    fn from(e: diesel::result::Error) -> Self {
        RegistrationError::Db(e.into())
    }
}

fn metadata_error(message: impl Into<String>) -> RegistrationError {
    RegistrationError::InvalidClientMetadata(message.into())
}

/// What registration returns: the 201 body (with the secret, shown this once).
pub struct Registered {
    pub client_id: ClientId,
    pub body: Value,
}

/// Checks who may register now: the switch, then the policy. An initial access token is
/// only looked at here; [`register`] spends one use of it with the client's creation, so a
/// typo in the metadata does not burn it.
pub fn admit(
    conn: &mut MysqlConnection,
    settings: &Settings,
    bearer: Option<&str>,
    ip: &str,
) -> Result<(), RegistrationError> {
    if !settings.registration_enabled {
        return Err(RegistrationError::Disabled);
    }
    let now = models::now();
    match settings.registration_policy {
        RegistrationPolicy::Token => {
            let token = bearer.ok_or(RegistrationError::MissingToken)?;
            if !models::registration::token_is_live(conn, &token_hash(token), now)? {
                return Err(invalid_token());
            }
            Ok(())
        }
        RegistrationPolicy::Open => {
            // Taken atomically from both windows before anything else is looked at, so
            // concurrent requests cannot all slip under the limit; refusals are counted in
            // one audit row per address and quarter hour, not one row each.
            let buckets = [
                Bucket::registration(ip, PER_SECOND, Duration::seconds(1)),
                Bucket::registration(ip, PER_HOUR, Duration::hours(1)),
            ];
            let verdict = throttle::take(conn, &buckets, now)?;
            if let Verdict::Refused { .. } = verdict {
                audit::record_counted(
                    conn,
                    audit::Event::new("anonymous", audit::REGISTRATION_REFUSED).ip(ip),
                )?;
                return Err(RegistrationError::RateLimited {
                    retry_after: verdict.retry_after_secs(now),
                });
            }
            Ok(())
        }
    }
}

/// A self-registered client may not pass for another (Unicode TR39). A name that looks
/// like a console-registered client's (same confusable skeleton, ignoring case and
/// spacing) is refused, and a chosen name must be written in one script. A name that
/// looks like another self-registered client's (every user's copy of one desktop app
/// registers itself under the same name) gets a short random suffix, so no two clients
/// ever show the same name.
fn distinct_name(
    conn: &mut MysqlConnection,
    name: ClientName,
    chosen: bool,
) -> Result<ClientName, RegistrationError> {
    if chosen && !name.is_single_script() {
        return Err(metadata_error(
            "client_name: mixes letters of different scripts (such as Latin and Cyrillic); write it in one.",
        ));
    }
    let skeleton = name.skeleton();
    let mut self_registered_twin = false;
    for (existing, self_registered) in models::clients::names(conn)? {
        let Ok(existing) = ClientName::parse(&existing) else {
            continue;
        };
        if existing.skeleton() != skeleton {
            continue;
        }
        if !self_registered {
            return Err(metadata_error(format!(
                "client_name: '{}' looks like the name of an application registered by this server's administrators; choose a name of your own.",
                name.as_str()
            )));
        }
        self_registered_twin = true;
    }
    if !self_registered_twin {
        return Ok(name);
    }
    let id = ClientId::generate();
    // 55 characters, a space, and "(abcdef)": within the 64 a name may have.
    let short: String = name.as_str().chars().take(55).collect();
    ClientName::parse(&format!("{short} ({})", &id.as_str()[..6]))
        .map_err(|e| metadata_error(format!("client_name: {e}")))
}

fn invalid_token() -> RegistrationError {
    RegistrationError::InvalidToken(
        "The initial access token is unknown, expired, used up or revoked.".into(),
    )
}

fn strings(value: &Value, field: &str) -> Result<Option<Vec<String>>, RegistrationError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| metadata_error(format!("{field} must be an array of strings.")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!(
            "{field} must be an array of strings."
        ))),
    }
}

fn string<'a>(value: &'a Value, field: &str) -> Result<Option<&'a str>, RegistrationError> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(metadata_error(format!("{field} must be a string."))),
    }
}

/// Client metadata (RFC 7591 §2) as checked against this server's rules, before anything
/// is looked up or stored.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub name: ClientName,
    /// `none`, `client_secret_basic` or `client_secret_post`, as the client asked.
    pub auth_method: String,
    /// Whether the client named itself (otherwise the name comes from its redirect host).
    pub name_chosen: bool,
    pub client_type: ClientType,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<Scope>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// The OpenID Connect scopes named in `scope`, echoed in the response.
    pub identity: Identity,
    pub client_uri: Option<String>,
    /// Stored as given and shown as a link; never fetched by the server.
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
}

/// Reads and checks RFC 7591 metadata; unknown fields are ignored. Pure, so it can be
/// fuzzed: every refusal is `invalid_redirect_uri` or `invalid_client_metadata`.
pub fn parse_metadata(
    settings: &Settings,
    metadata: &Value,
) -> Result<Metadata, RegistrationError> {
    if !metadata.is_object() {
        return Err(metadata_error(
            "The body must be a JSON object of client metadata.",
        ));
    }
    let redirect_uris = redirect_uris(settings, metadata)?;
    let post_logout_redirect_uris = post_logout_redirect_uris(settings, metadata)?;
    // RFC 7591 §2: every field is optional; without a name, the consent screen shows where
    // the application sends the user back to.
    let fallback = url::Url::parse(redirect_uris[0].as_str())
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(str::to_string)
                .or(Some(u.scheme().to_string()))
        })
        .unwrap_or_else(|| "Unnamed application".into());
    let chosen = string(metadata, "client_name")?;
    let name = ClientName::parse(chosen.unwrap_or(&fallback))
        .map_err(|e| metadata_error(format!("client_name: {e}")))?;
    let auth_method =
        string(metadata, "token_endpoint_auth_method")?.unwrap_or("client_secret_basic");
    let client_type = match auth_method {
        "none" => ClientType::Public,
        "client_secret_basic" | "client_secret_post" => ClientType::Confidential,
        other => {
            return Err(metadata_error(format!(
                "token_endpoint_auth_method {other:?} is not supported: use none, client_secret_basic or client_secret_post."
            )));
        }
    };
    let grants = grant_types(settings, metadata)?;
    let response_types =
        strings(metadata, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if response_types.is_empty() || response_types.iter().any(|r| r != "code") {
        return Err(metadata_error("response_types: only code is supported."));
    }
    let (scopes, identity) = scope(settings, metadata)?;
    let client_uri = parse_web_url(string(metadata, "client_uri")?.unwrap_or(""), "client_uri")
        .map_err(|e| metadata_error(e.0))?;
    let logo_uri = parse_web_url(string(metadata, "logo_uri")?.unwrap_or(""), "logo_uri")
        .map_err(|e| metadata_error(e.0))?;
    let policy_uri = parse_web_url(string(metadata, "policy_uri")?.unwrap_or(""), "policy_uri")
        .map_err(|e| metadata_error(e.0))?;
    let tos_uri = parse_web_url(string(metadata, "tos_uri")?.unwrap_or(""), "tos_uri")
        .map_err(|e| metadata_error(e.0))?;
    Ok(Metadata {
        name,
        auth_method: auth_method.to_string(),
        name_chosen: chosen.is_some(),
        client_type,
        grants,
        scopes,
        redirect_uris,
        post_logout_redirect_uris,
        identity,
        client_uri,
        logo_uri,
        policy_uri,
        tos_uri,
    })
}

/// `redirect_uris`: required, each an https, loopback or allowed native URI (RFC 7591 §2).
fn redirect_uris(
    settings: &Settings,
    metadata: &Value,
) -> Result<Vec<RedirectUri>, RegistrationError> {
    let uris = strings(metadata, "redirect_uris")
        .map_err(|e| RegistrationError::InvalidRedirectUri(e.to_string()))?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            RegistrationError::InvalidRedirectUri(
                "redirect_uris is required: at least one URI.".into(),
            )
        })?;
    let mut redirect_uris = Vec::new();
    for uri in &uris {
        let parsed = RedirectUri::parse_allowing_native(uri, &settings.allowed_app_schemes)
            .map_err(|e| RegistrationError::InvalidRedirectUri(format!("redirect_uris: {e}")))?;
        if !redirect_uris.contains(&parsed) {
            redirect_uris.push(parsed);
        }
    }
    Ok(redirect_uris)
}

/// `post_logout_redirect_uris` (RP-initiated logout 1.0 §3.1): optional, each checked as
/// a redirect URI is.
fn post_logout_redirect_uris(
    settings: &Settings,
    metadata: &Value,
) -> Result<Vec<RedirectUri>, RegistrationError> {
    let mut parsed = Vec::new();
    for uri in strings(metadata, "post_logout_redirect_uris")?.unwrap_or_default() {
        let uri = RedirectUri::parse_allowing_native(&uri, &settings.allowed_app_schemes)
            .map_err(|e| metadata_error(format!("post_logout_redirect_uris: {e}")))?;
        if !parsed.contains(&uri) {
            parsed.push(uri);
        }
    }
    Ok(parsed)
}

/// `grant_types`: authorization code, with refresh tokens if the server issues them;
/// never client credentials.
fn grant_types(settings: &Settings, metadata: &Value) -> Result<Vec<GrantType>, RegistrationError> {
    let grant_names =
        strings(metadata, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let mut grants = Vec::new();
    for g in &grant_names {
        match g.as_str() {
            "authorization_code" => grants.push(GrantType::AuthorizationCode),
            "refresh_token" => grants.push(GrantType::RefreshToken),
            "client_credentials" => {
                return Err(metadata_error(
                    "grant_types: client_credentials is never open to self-registered clients.",
                ));
            }
            other => {
                return Err(metadata_error(format!(
                    "grant_types: {other:?} is not supported: use authorization_code and refresh_token."
                )));
            }
        }
    }
    grants.sort();
    grants.dedup();
    if !grants.contains(&GrantType::AuthorizationCode) {
        return Err(metadata_error(
            "grant_types must include authorization_code.",
        ));
    }
    if let Some(off) = grants.iter().find(|g| !settings.grant_enabled(**g)) {
        return Err(metadata_error(format!(
            "grant_types: {}",
            GrantRefusal::DisabledOnServer.describe(*off)
        )));
    }
    Ok(grants)
}

/// `scope`: within the server's allowed scopes, never `matomo:superuser`; all the
/// allowed ones below superuser when absent. OpenID Connect scopes are every client's
/// when the server allows them; one that names only those may ask for the least Matomo
/// scope.
fn scope(
    settings: &Settings,
    metadata: &Value,
) -> Result<(Vec<Scope>, Identity), RegistrationError> {
    let mut identity = Identity::NONE;
    let scopes = match string(metadata, "scope")? {
        Some(raw) => {
            let request =
                ScopeRequest::parse(raw).map_err(|e| metadata_error(format!("scope: {e}")))?;
            if let Some(s) =
                (request.identity.iter()).find(|s| !settings.allowed_identity.contains(*s))
            {
                return Err(metadata_error(format!(
                    "scope: {s} is not allowed on this server."
                )));
            }
            identity = request.identity;
            let mut scopes = request.matomo;
            if scopes.is_empty() {
                scopes.extend(crate::oauth::scopes::default_scope(
                    &settings.allowed_scopes,
                ));
            }
            if scopes.contains(&Scope::Superuser) {
                return Err(metadata_error(
                    "scope: matomo:superuser is never granted to self-registered clients.",
                ));
            }
            if let Some(s) = scopes.iter().find(|s| !settings.allowed_scopes.contains(s)) {
                return Err(metadata_error(format!(
                    "scope: {s} is not allowed on this server."
                )));
            }
            if scopes.is_empty() {
                return Err(metadata_error("scope: name at least one scope."));
            }
            scopes
        }
        None => settings
            .allowed_scopes
            .iter()
            .copied()
            .filter(|s| *s != Scope::Superuser)
            .collect(),
    };
    if scopes.is_empty() {
        return Err(metadata_error(
            "scope: no scope is open to self-registered clients.",
        ));
    }
    Ok((scopes, identity))
}

/// Registers a client from RFC 7591 metadata; unknown fields are ignored.
pub fn register(
    conn: &mut MysqlConnection,
    settings: &Settings,
    metadata: &Value,
    initial_token: Option<&str>,
    ip: &str,
) -> Result<Registered, RegistrationError> {
    let Metadata {
        name,
        auth_method,
        name_chosen,
        client_type,
        grants,
        scopes,
        redirect_uris,
        post_logout_redirect_uris,
        identity,
        client_uri,
        logo_uri,
        policy_uri,
        tos_uri,
    } = parse_metadata(settings, metadata)?;
    let key = clients::secret_key(conn)?;
    let client_id = ClientId::generate();
    let secret = (client_type == ClientType::Confidential).then(ClientSecret::generate);
    let hash = secret.as_ref().map(|s| s.hash(&key));
    let now = models::now();
    let mut spec = ClientSpec {
        name,
        description: String::new(),
        client_type,
        grants,
        scopes,
        redirect_uris,
        post_logout_redirect_uris,
        access_token_lifetime: None,
        refresh_token_lifetime: None,
        require_pkce: true,
        trusted: false,
        may_introspect_any: false,
        homepage_url: client_uri,
        icon_url: logo_uri,
        privacy_url: policy_uri,
        terms_url: tos_uri,
        secret_expires_at: None,
        site_limit: Default::default(),
    };
    crate::db::transaction(conn, |conn| {
        if settings.registration_policy == RegistrationPolicy::Token {
            let token = initial_token.ok_or(RegistrationError::MissingToken)?;
            models::registration::use_token(conn, &token_hash(token), now)?
                .ok_or_else(invalid_token)?;
        }
        // Registrations queue on the settings row, so two look-alike names registered at
        // once cannot both pass the check below.
        models::oauth_settings::get_for_update(conn)?;
        spec.name = distinct_name(conn, spec.name.clone(), name_chosen)?;
        clients::insert_row(
            conn,
            &client_id,
            &spec,
            hash.as_ref().map(|h| h.as_slice()),
            Origin::SelfRegistered { ip },
        )?;
        audit::record(
            conn,
            audit::Event::by(
                &Actor::new("registration").from_ip(ip),
                audit::CLIENT_REGISTERED,
            )
            .target("client", client_id.as_str())
            .details(json!({
                "name": spec.name.as_str(),
                "type": client_type.as_str(),
                "redirect_uris": uri_strings(&spec.redirect_uris),
                "scopes": Scope::join(&spec.scopes),
            })),
        )?;
        Ok::<_, RegistrationError>(())
    })?;
    let body = response_body(
        &client_id,
        &spec,
        identity,
        &auth_method,
        secret.as_ref(),
        now,
    );
    Ok(Registered { client_id, body })
}

fn uri_strings(uris: &[RedirectUri]) -> Vec<&str> {
    uris.iter().map(RedirectUri::as_str).collect()
}

/// The client information response (RFC 7591 §3.2.1): the metadata as registered.
fn response_body(
    client_id: &ClientId,
    spec: &ClientSpec,
    identity: Identity,
    auth_method: &str,
    secret: Option<&ClientSecret>,
    issued_at: chrono::NaiveDateTime,
) -> Value {
    let mut body = json!({
        "client_id": client_id.as_str(),
        "client_id_issued_at": issued_at.and_utc().timestamp(),
        "client_name": spec.name.as_str(),
        "redirect_uris": uri_strings(&spec.redirect_uris),
        "token_endpoint_auth_method": auth_method,
        "grant_types": spec.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": ["code"],
        "scope": crate::domain::scope_text(identity, &spec.scopes),
        // RFC 7591 §3.2.1: 0 when the secret does not expire.
        "client_secret_expires_at": spec.secret_expires_at.map_or(0, |at| at.and_utc().timestamp()),
    });
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret.expose());
    }
    if !spec.post_logout_redirect_uris.is_empty() {
        body["post_logout_redirect_uris"] = json!(uri_strings(&spec.post_logout_redirect_uris));
    }
    if let Some(uri) = &spec.homepage_url {
        body["client_uri"] = json!(uri);
    }
    if let Some(uri) = &spec.icon_url {
        body["logo_uri"] = json!(uri);
    }
    if let Some(uri) = &spec.privacy_url {
        body["policy_uri"] = json!(uri);
    }
    if let Some(uri) = &spec.terms_url {
        body["tos_uri"] = json!(uri);
    }
    body
}

impl crate::db::Retryable for RegistrationError {
    fn retryable(&self) -> bool {
        matches!(self, RegistrationError::Db(e) if e.is_retryable())
    }
}

/// Creates an initial access token (shown once by the caller; stored as SHA-256) and
/// records who made it, in one transaction. Returns the token.
pub fn create_initial_token(
    conn: &mut MysqlConnection,
    label: &str,
    days: i64,
    uses: i32,
    actor: &Actor,
) -> Result<String, DbError> {
    let token = crate::auth::random_token(32);
    let hash = token_hash(&token);
    let expires = models::now() + Duration::days(days);
    crate::db::transaction(conn, |conn| {
        let id =
            models::registration::insert_token(conn, &hash, label, &actor.name, expires, uses)?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::REGISTRATION_TOKEN_CREATED)
                .target("registration_token", &id.to_string())
                .details(json!({ "label": label, "days": days, "uses": uses })),
        )
    })?;
    Ok(token)
}
