//! The client registrar: the rules for creating, editing, pausing, resuming and deleting
//! OAuth clients and regenerating their secrets, shared by the command line and the console.

use diesel::MysqlConnection;
use serde_json::json;

use crate::audit::{self, Actor};
use crate::db::DbError;
use crate::db::models::{self, clients::NewClient};
use crate::domain::{
    Client, ClientIcon, ClientId, ClientSecret, ClientStatus, ClientType, FieldErrors, GrantType,
    InvalidInput, RedirectUri, Scope, ScopeSet, SecretGrace, SiteLimit,
};
use crate::oauth::settings::Settings;
use chrono::NaiveDateTime;

mod spec;

pub use spec::{ClientInput, ClientSpec, check_rules, expiry_input};

/// Name of the server key that hashes client secrets.
pub const SECRET_KEY_NAME: &str = "client_secret_key";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A rule across fields was broken; `field` names the form field or CLI flag.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no client has ID '{0}'")]
    UnknownClient(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> ClientError {
    ClientError::Invalid {
        field,
        message: message.into(),
    }
}

/// The server key that client secrets are hashed under (HMAC-SHA256), created on first use.
/// Every path to it goes through here.
pub fn secret_key(conn: &mut MysqlConnection) -> Result<Vec<u8>, DbError> {
    models::server_secrets::get_or_create(conn, SECRET_KEY_NAME, 32)
}

/// What creation returns: the new ID and, for a confidential client, its secret, which
/// exists nowhere else and must be shown to the caller this once.
pub struct Created {
    pub client_id: ClientId,
    pub secret: Option<ClientSecret>,
}

pub fn create(
    conn: &mut MysqlConnection,
    spec: &ClientSpec,
    owner_id: i64,
    actor: &Actor,
) -> Result<Created, ClientError> {
    let settings = Settings::load(conn)?;
    check_rules(spec, &settings)?;
    check_sites(conn, &spec.site_limit)?;
    let key = secret_key(conn)?;
    let client_id = ClientId::generate();
    let secret = (spec.client_type == ClientType::Confidential).then(ClientSecret::generate);
    let hash = secret.as_ref().map(|s| s.hash(&key));
    let grants = GrantType::join(&spec.grants);
    let scopes = Scope::join(&spec.scopes);
    let uris: Vec<&str> = spec.redirect_uris.iter().map(RedirectUri::as_str).collect();
    crate::db::transaction(conn, |conn| {
        insert_row(
            conn,
            &client_id,
            spec,
            hash.as_ref().map(|h| h.as_slice()),
            Origin::Console { owner_id },
        )?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::CLIENT_CREATED)
                .target("client", client_id.as_str())
                .details(json!({
                    "name": spec.name.as_str(),
                    "type": spec.client_type.as_str(),
                    "grant_types": grants,
                    "scopes": scopes,
                    "redirect_uris": uris,
                    "trusted": spec.trusted,
                    "may_introspect_any": spec.may_introspect_any,
                })),
        )
    })?;
    Ok(Created { client_id, secret })
}

/// Every website a limit names must exist.
fn check_sites(conn: &mut MysqlConnection, limit: &SiteLimit) -> Result<(), ClientError> {
    if !limit.is_limited() {
        return Ok(());
    }
    let known: Vec<i64> = models::sites::list(conn)?.iter().map(|s| s.id).collect();
    match limit.ids().iter().find(|id| !known.contains(id)) {
        Some(id) => Err(invalid("site_ids", format!("No website has ID {id}."))),
        None => Ok(()),
    }
}

/// The superuser a client acts as (client credentials run with its owner's rights): the
/// one named, or else the longest-standing superuser. `Ok(Err(_))` says why there is none.
pub fn owner(
    conn: &mut MysqlConnection,
    login: Option<&str>,
) -> Result<Result<models::users::UserRow, InvalidInput>, DbError> {
    Ok(match login {
        Some(login) => models::users::find_by_login(conn, login)?
            .filter(|u| u.role() == crate::domain::Role::Superuser)
            .ok_or_else(|| InvalidInput::new(format!("no superuser has login '{login}'."))),
        None => models::users::first_superuser(conn)?.ok_or_else(|| {
            InvalidInput::new("there is no superuser yet; create one with consentry user create.")
        }),
    })
}

/// Who brings a client into being.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A superuser on the console or the command line; `owner_id` is who it acts as.
    Console { owner_id: i64 },
    /// RFC 7591 registration from this address: no owner, never trusted, PKCE always.
    SelfRegistered { ip: &'a str },
}

/// The one place a client row is written, from a checked specification, whoever registers
/// it. Runs inside the caller's transaction; the caller records its own audit event.
pub fn insert_row(
    conn: &mut MysqlConnection,
    client_id: &ClientId,
    spec: &ClientSpec,
    secret_hash: Option<&[u8]>,
    origin: Origin,
) -> Result<(), DbError> {
    let now = models::now();
    let grants = GrantType::join(&spec.grants);
    let scopes = Scope::join(&spec.scopes);
    let uris: Vec<&str> = spec.redirect_uris.iter().map(RedirectUri::as_str).collect();
    let (owner_id, registered_from) = match origin {
        Origin::Console { owner_id } => (Some(owner_id), None),
        Origin::SelfRegistered { ip } => (None, Some(ip)),
    };
    let self_registered = registered_from.is_some();
    models::clients::insert(
        conn,
        &NewClient {
            client_id: client_id.as_str(),
            name: spec.name.as_str(),
            description: &spec.description,
            client_type: spec.client_type.as_str(),
            grant_types: &grants,
            scopes: &scopes,
            redirect_uris: json!(uris),
            post_logout_redirect_uris: json!(uri_list(&spec.post_logout_redirect_uris)),
            access_token_lifetime: seconds_column(spec.access_token_lifetime),
            refresh_token_lifetime: seconds_column(spec.refresh_token_lifetime),
            trusted: spec.trusted && !self_registered,
            may_introspect_any: spec.may_introspect_any,
            // Public and self-registered clients always need PKCE; confidential ones
            // opt in (the seed's confidential example has no code_challenge).
            require_pkce: spec.require_pkce
                || self_registered
                || spec.client_type == ClientType::Public,
            homepage_url: spec.homepage_url.as_deref(),
            icon_url: spec.icon_url.as_deref(),
            status: ClientStatus::Active.as_str(),
            owner_id,
            secret_hash,
            secret_expires_at: spec.secret_expires_at,
            site_ids: spec.site_limit.to_stored().as_deref(),
            privacy_url: spec.privacy_url.as_deref(),
            terms_url: spec.terms_url.as_deref(),
            created_at: now,
            updated_at: now,
            self_registered,
            registered_from,
        },
    )
}

/// Pauses or resumes a client; recorded with the actor.
pub fn set_status(
    conn: &mut MysqlConnection,
    client_id: &str,
    status: ClientStatus,
    actor: &Actor,
) -> Result<(), ClientError> {
    crate::db::transaction(conn, |conn| {
        if !models::clients::update_status(conn, client_id, status.as_str())? {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        }
        let action = match status {
            ClientStatus::Paused => audit::CLIENT_PAUSED,
            ClientStatus::Active => audit::CLIENT_RESUMED,
        };
        audit::record(
            conn,
            audit::Event::by(actor, action).target("client", client_id),
        )?;
        Ok(())
    })
}

/// Makes a confidential client public: its secret is dropped, every token it holds is
/// revoked (they were issued to a client that could authenticate), PKCE becomes required and
/// client credentials, which needs a secret, is removed from its grants.
pub fn make_public(
    conn: &mut MysqlConnection,
    client_id: &str,
    actor: &Actor,
) -> Result<(), ClientError> {
    crate::db::transaction(conn, |conn| {
        let Some(client) = models::clients::find_by_client_id(conn, client_id)? else {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        };
        if !client.is_confidential() {
            return Ok(());
        }
        let grants: Vec<GrantType> = (client.grants.iter().copied())
            .filter(|g| *g != GrantType::ClientCredentials)
            .collect();
        models::clients::make_public(conn, client.id, &GrantType::join(&grants))?;
        let revoked = models::grants::revoke_for_client(conn, client.id, models::now())?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::CLIENT_MADE_PUBLIC)
                .target("client", client_id)
                .details(json!({ "grants_revoked": revoked })),
        )?;
        Ok(())
    })
}

/// Deletes the client with everything it holds (tokens, grants and consents cascade).
pub fn delete(
    conn: &mut MysqlConnection,
    client_id: &str,
    actor: &Actor,
) -> Result<(), ClientError> {
    crate::db::transaction(conn, |conn| {
        let Some(client) = models::clients::find_by_client_id(conn, client_id)? else {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        };
        let held = models::client_usage::holdings(conn, client.id, models::now())?;
        models::clients::delete(conn, client_id)?;
        audit::record(
            conn,
            audit::Event::by(actor, audit::CLIENT_DELETED)
                .target("client", client_id)
                .details(json!({
                    "name": client.name,
                    "access_tokens_revoked": held.access_tokens,
                    "refresh_tokens_revoked": held.refresh_tokens,
                    "consents_revoked": held.consents,
                })),
        )?;
        Ok(())
    })
}

/// What an edit did: a secret to show once when the client became confidential, whether it
/// became public (every token revoked), and how many grants exceeding the new limits it revoked.
pub struct Updated {
    pub secret: Option<ClientSecret>,
    pub made_public: bool,
    pub grants_revoked: usize,
}

/// Applies an edit. The client ID stays; turning public drops the secret and every token,
/// turning confidential issues a secret, and tokens whose scope or grant type the client
/// may no longer use are revoked at once.
pub fn update(
    conn: &mut MysqlConnection,
    client_id: &str,
    spec: &ClientSpec,
    actor: &Actor,
) -> Result<Updated, ClientError> {
    let settings = Settings::load(conn)?;
    check_rules(spec, &settings)?;
    check_sites(conn, &spec.site_limit)?;
    let key = secret_key(conn)?;
    crate::db::transaction(conn, |conn| {
        let Some(before) = models::clients::find_by_client_id(conn, client_id)? else {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        };
        let now = models::now();
        let made_public = before.is_confidential() && spec.client_type == ClientType::Public;
        let mut secret = None;
        if made_public {
            // Drops the secret and revokes every token (recorded as client.made_public).
            make_public(conn, client_id, actor)?;
        } else if !before.is_confidential() && spec.client_type == ClientType::Confidential {
            let fresh = ClientSecret::generate();
            models::clients::set_secret(conn, before.id, &fresh.hash(&key))?;
            secret = Some(fresh);
        }
        let grants = GrantType::join(&spec.grants);
        let scopes = Scope::join(&spec.scopes);
        let uris: Vec<&str> = spec.redirect_uris.iter().map(RedirectUri::as_str).collect();
        models::clients::update(
            conn,
            before.id,
            &models::clients::ClientChanges {
                name: spec.name.as_str(),
                description: &spec.description,
                grant_types: &grants,
                scopes: &scopes,
                redirect_uris: json!(uris),
                post_logout_redirect_uris: json!(uri_list(&spec.post_logout_redirect_uris)),
                access_token_lifetime: seconds_column(spec.access_token_lifetime),
                refresh_token_lifetime: seconds_column(spec.refresh_token_lifetime),
                // Public and self-registered clients always need PKCE.
                require_pkce: spec.require_pkce
                    || before.self_registered
                    || spec.client_type == ClientType::Public,
                trusted: spec.trusted,
                may_introspect_any: spec.may_introspect_any,
                homepage_url: spec.homepage_url.as_deref(),
                icon_url: spec.icon_url.as_deref(),
                secret_expires_at: spec.secret_expires_at,
                site_ids: spec.site_limit.to_stored().as_deref(),
                privacy_url: spec.privacy_url.as_deref(),
                terms_url: spec.terms_url.as_deref(),
                updated_at: now,
            },
        )?;
        if before.site_limit != spec.site_limit {
            let ids = spec.site_limit.to_stored();
            models::grants::set_sites_for_client_credentials(conn, before.id, ids.as_deref())?;
        }
        let revoked = if made_public {
            0
        } else {
            // Every scope text a grant within the new Matomo scopes can carry.
            let within: Vec<String> = ScopeSet::within(&spec.scopes)
                .iter()
                .map(ScopeSet::to_string)
                .collect();
            let scope_names: Vec<&str> = within.iter().map(String::as_str).collect();
            // A grant's type is how its family began; refresh tokens only continue one.
            let grant_names: Vec<&str> = spec
                .grants
                .iter()
                .filter(|g| **g != GrantType::RefreshToken)
                .map(|g| g.as_str())
                .collect();
            models::grants::revoke_outside(conn, before.id, &scope_names, &grant_names, now)?
        };
        let changes = changed_fields(&before, spec, &grants, &scopes, &uris);
        audit::record(
            conn,
            audit::Event::by(actor, audit::CLIENT_EDITED)
                .target("client", client_id)
                .details(json!({
                    "changed": changes,
                    "made_public": made_public,
                    "grants_revoked": revoked,
                })),
        )?;
        Ok(Updated {
            secret,
            made_public,
            grants_revoked: revoked,
        })
    })
}

/// The fields an edit changed, each as `{"old": ..., "new": ...}`.
fn changed_fields(
    before: &Client,
    spec: &ClientSpec,
    grants: &str,
    scopes: &str,
    uris: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    let pairs = [
        ("name", json!(before.name), json!(spec.name.as_str())),
        (
            "description",
            json!(before.description),
            json!(spec.description),
        ),
        (
            "type",
            json!(before.client_type.as_str()),
            json!(spec.client_type.as_str()),
        ),
        (
            "grant_types",
            json!(GrantType::join(&before.grants)),
            json!(grants),
        ),
        ("scopes", json!(Scope::join(&before.scopes)), json!(scopes)),
        (
            "redirect_uris",
            json!(
                before
                    .redirect_uris
                    .iter()
                    .map(RedirectUri::as_str)
                    .collect::<Vec<_>>()
            ),
            json!(uris),
        ),
        (
            "post_logout_redirect_uris",
            json!(uri_list(&before.post_logout_redirect_uris)),
            json!(uri_list(&spec.post_logout_redirect_uris)),
        ),
        (
            "access_token_lifetime",
            json!(before.access_token_lifetime),
            json!(spec.access_token_lifetime),
        ),
        (
            "refresh_token_lifetime",
            json!(before.refresh_token_lifetime),
            json!(spec.refresh_token_lifetime),
        ),
        (
            "require_pkce",
            json!(before.require_pkce),
            json!(spec.require_pkce || spec.client_type == ClientType::Public),
        ),
        ("trusted", json!(before.trusted), json!(spec.trusted)),
        (
            "may_introspect_any",
            json!(before.may_introspect_any),
            json!(spec.may_introspect_any),
        ),
        (
            "homepage_url",
            json!(before.homepage_url),
            json!(spec.homepage_url),
        ),
        ("icon_url", json!(before.icon_url), json!(spec.icon_url)),
        (
            "privacy_url",
            json!(before.privacy_url),
            json!(spec.privacy_url),
        ),
        ("terms_url", json!(before.terms_url), json!(spec.terms_url)),
        (
            "secret_expires_at",
            json!(before.secret_expires_at.map(crate::domain::rfc3339)),
            json!(spec.secret_expires_at.map(crate::domain::rfc3339)),
        ),
        (
            "site_ids",
            json!(before.site_limit.to_string()),
            json!(spec.site_limit.to_string()),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| (field.to_string(), json!({ "old": old, "new": new })))
        .collect()
}

/// Gives the client a new icon (`Some`) or removes it (`None`); recorded with its size.
pub fn set_icon(
    conn: &mut MysqlConnection,
    client_id: &str,
    icon: Option<&ClientIcon>,
    actor: &Actor,
) -> Result<(), ClientError> {
    crate::db::transaction(conn, |conn| {
        let Some(client) = models::clients::find_by_client_id(conn, client_id)? else {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        };
        let details = match icon {
            Some(icon) => {
                let now = models::now();
                models::client_icons::set(conn, client.id, icon.content_type(), icon.bytes(), now)?;
                json!({ "content_type": icon.content_type(), "bytes": icon.bytes().len() })
            }
            None => {
                models::client_icons::remove(conn, client.id)?;
                json!({ "removed": true })
            }
        };
        audit::record(
            conn,
            audit::Event::by(actor, audit::CLIENT_ICON_CHANGED)
                .target("client", client_id)
                .details(details),
        )?;
        Ok(())
    })
}

/// How to rotate a secret.
#[derive(Debug, Clone)]
pub struct RotationRequest {
    /// How long the replaced secret keeps working.
    pub grace: SecretGrace,
    /// When the new secret expires; `None`: keep the current expiry if it lies ahead,
    /// else never.
    expires_at: Option<Option<NaiveDateTime>>,
    /// Revoke every token issued so far (for a secret that may have leaked).
    pub revoke_tokens: bool,
}

impl RotationRequest {
    /// The console's form, the CLI's flags and the API's parameters as typed: `grace` as
    /// [`SecretGrace::parse`] reads it, `expires` (absent: keep the current expiry) as
    /// [`crate::domain::parse_secret_expiry`], and lying ahead. Errors name the field.
    pub fn parse(
        grace: &str,
        expires: Option<&str>,
        revoke_tokens: bool,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let grace = errors.take("grace", SecretGrace::parse(grace));
        let expires_at = match expires {
            None => Some(None),
            Some(raw) => errors
                .take("expires", crate::domain::parse_secret_expiry(raw))
                .map(Some),
        };
        if let Some(Some(Some(at))) = expires_at
            && at <= models::now()
        {
            errors.add(
                "expires",
                "Choose an expiry after today, or leave it empty for never.",
            );
        }
        let (Some(grace), Some(expires_at)) = (grace, expires_at) else {
            return Err(errors);
        };
        errors.check(|| Self {
            grace,
            expires_at,
            revoke_tokens,
        })
    }
}

/// What a rotation did: the new secret (to show once) and until when the old one works.
pub struct Rotated {
    pub secret: ClientSecret,
    pub previous_until: Option<NaiveDateTime>,
    pub grants_revoked: usize,
}

/// Replaces a confidential client's secret. With a grace period both secrets work until it
/// ends (so every server using the client can switch without downtime), and requests made
/// with the old one are counted; without one the old secret stops at once. With
/// `revoke_tokens`, every token issued so far is revoked too.
pub fn rotate_secret(
    conn: &mut MysqlConnection,
    client_id: &str,
    request: &RotationRequest,
    actor: &Actor,
) -> Result<Rotated, ClientError> {
    let key = secret_key(conn)?;
    crate::db::transaction(conn, |conn| {
        let Some(client) = models::clients::find_by_client_id(conn, client_id)? else {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        };
        if !client.is_confidential() {
            return Err(invalid(
                "client_id",
                "A public client has no secret; make it confidential to give it one.",
            ));
        }
        let now = models::now();
        let expires_at = match request.expires_at {
            Some(at) => at,
            None => client.secret_expires_at.filter(|at| *at > now),
        };
        // The old secret's grace never outlives the old secret: an expired one gets none,
        // one about to expire keeps only what it had left.
        let previous_until = match (request.grace.duration(), client.secret_expires_at) {
            (None, _) => None,
            (Some(_), Some(old_end)) if old_end <= now => None,
            (Some(d), Some(old_end)) => Some((now + d).min(old_end)),
            (Some(d), None) => Some(now + d),
        };
        let secret = ClientSecret::generate();
        models::clients::rotate_secret(
            conn,
            &client,
            &models::clients::Rotation {
                hash: &secret.hash(&key),
                expires_at,
                previous_until,
            },
        )?;
        let revoked = if request.revoke_tokens {
            models::grants::revoke_for_client(conn, client.id, now)?
        } else {
            0
        };
        audit::record(
            conn,
            audit::Event::by(actor, audit::CLIENT_SECRET_REGENERATED)
                .target("client", client_id)
                .details(json!({
                    "grace": request.grace.as_str(),
                    "previous_valid_until": previous_until.map(crate::domain::rfc3339),
                    "expires_at": expires_at.map(crate::domain::rfc3339),
                    "grants_revoked": revoked,
                })),
        )?;
        Ok(Rotated {
            secret,
            previous_until,
            grants_revoked: revoked,
        })
    })
}

/// Ends the previous secret's grace period now; returns how many requests it had
/// authenticated since the rotation.
pub fn end_previous_secret(
    conn: &mut MysqlConnection,
    client_id: &str,
    actor: &Actor,
) -> Result<i64, ClientError> {
    crate::db::transaction(conn, |conn| {
        let Some(client) = models::clients::find_by_client_id(conn, client_id)? else {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        };
        let Some(uses) = models::clients::end_previous_secret(conn, client.id)? else {
            return Err(invalid(
                "client_id",
                "This client has no previous secret in a grace period.",
            ));
        };
        audit::record(
            conn,
            audit::Event::by(actor, audit::CLIENT_PREVIOUS_SECRET_ENDED)
                .target("client", client_id)
                .details(json!({ "uses_since_rotation": uses })),
        )?;
        Ok(uses)
    })
}

/// A client as machines read it: `consentry client show --json` and the admin API's
/// `OAuth2.getClient`. Times in RFC 3339 UTC; never a secret or its hash.
pub fn client_json(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "description": c.description,
        "type": c.client_type.as_str(),
        "grant_types": c.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": c.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "redirect_uris": c.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "post_logout_redirect_uris": (c.post_logout_redirect_uris.iter()).map(|u| u.as_str()).collect::<Vec<_>>(),
        "access_token_lifetime": c.access_token_lifetime,
        "refresh_token_lifetime": c.refresh_token_lifetime,
        "trusted": c.trusted,
        "may_introspect_any": c.may_introspect_any,
        "require_pkce": c.require_pkce,
        "homepage_url": c.homepage_url,
        "icon_url": c.icon_url,
        "privacy_url": c.privacy_url,
        "terms_url": c.terms_url,
        "has_icon": c.icon_updated_at.is_some(),
        "secret_expires_at": c.secret_expires_at.map(crate::domain::rfc3339),
        "client_credentials_sites": match &c.site_limit {
            crate::domain::SiteLimit::All => json!("all"),
            limited => json!(limited.ids()),
        },
        "secret_rotated_at": c.secret_rotated_at.map(crate::domain::rfc3339),
        "previous_secret_valid_until": c.live_previous_secret(models::now()).map(|p| crate::domain::rfc3339(p.until)),
        "previous_secret_uses": c.live_previous_secret(models::now()).map(|p| p.uses),
        "status": c.status.as_str(),
        "created_at": crate::domain::rfc3339(c.created_at),
        "last_used_at": c.last_used_at.map(crate::domain::rfc3339),
    })
}

impl From<diesel::result::Error> for ClientError {
    fn from(e: diesel::result::Error) -> Self {
        ClientError::Db(e.into())
    }
}

impl crate::db::Retryable for ClientError {
    fn retryable(&self) -> bool {
        matches!(self, ClientError::Db(e) if e.is_retryable())
    }
}

fn uri_list(uris: &[RedirectUri]) -> Vec<&str> {
    uris.iter().map(RedirectUri::as_str).collect()
}

/// A lifetime as stored: the parser kept it within the settings' bounds, far below
/// `i32::MAX`.
fn seconds_column(seconds: Option<i64>) -> Option<i32> {
    seconds.map(|s| i32::try_from(s).unwrap_or(i32::MAX))
}
