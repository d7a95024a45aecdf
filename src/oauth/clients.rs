//! The client registrar: the rules for creating, pausing, resuming and deleting OAuth
//! clients, shared by the command line and (later) the console pages.

use diesel::{Connection, MysqlConnection};
use serde_json::json;

use crate::audit;
use crate::db::DbError;
use crate::db::models::{self, clients::NewClient};
use crate::domain::{
    ClientId, ClientName, ClientSecret, ClientStatus, ClientType, GrantType, RedirectUri, Scope,
};
use crate::oauth::settings::Settings;

/// Name of the server key that hashes client secrets.
pub const SECRET_KEY_NAME: &str = "client_secret_key";

/// A client as requested, every part already a valid domain value.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub name: ClientName,
    pub description: String,
    pub client_type: ClientType,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<Scope>,
    pub redirect_uris: Vec<RedirectUri>,
    pub trusted: bool,
    pub homepage_url: Option<String>,
    pub icon_url: Option<String>,
}

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

/// Rules that involve more than one field or the current settings.
pub fn check_rules(spec: &ClientSpec, settings: &Settings) -> Result<(), ClientError> {
    if spec.grants.is_empty() {
        return Err(invalid("grant", "Choose at least one grant type."));
    }
    if spec.client_type == ClientType::Public && spec.grants.contains(&GrantType::ClientCredentials)
    {
        return Err(invalid(
            "grant",
            "Client credentials needs a client secret, so it is for confidential clients only.",
        ));
    }
    if spec.scopes.is_empty() {
        return Err(invalid("scope", "Choose at least one allowed scope."));
    }
    if let Some(scope) = spec
        .scopes
        .iter()
        .find(|s| !settings.allowed_scopes.contains(s))
    {
        return Err(invalid(
            "scope",
            format!("{scope} is not allowed in General settings > OAuth 2.0."),
        ));
    }
    if spec.grants.contains(&GrantType::AuthorizationCode) && spec.redirect_uris.is_empty() {
        return Err(invalid(
            "redirect-uri",
            "The authorisation code grant needs at least one redirect URI.",
        ));
    }
    Ok(())
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
    actor: &str,
) -> Result<Created, ClientError> {
    let settings = Settings::load(conn)?;
    check_rules(spec, &settings)?;
    let key = models::server_secrets::get_or_create(conn, SECRET_KEY_NAME, 32)?;
    let client_id = ClientId::generate();
    let secret = (spec.client_type == ClientType::Confidential).then(ClientSecret::generate);
    let hash = secret.as_ref().map(|s| s.hash(&key));
    let now = models::now();
    let grants = GrantType::join(&spec.grants);
    let scopes = Scope::join(&spec.scopes);
    let uris: Vec<&str> = spec.redirect_uris.iter().map(RedirectUri::as_str).collect();
    conn.transaction(|conn| {
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
                trusted: spec.trusted,
                // Public clients always need PKCE; confidential ones opt in (the seed's
                // confidential example has no code_challenge).
                require_pkce: spec.client_type == ClientType::Public,
                homepage_url: spec.homepage_url.as_deref(),
                icon_url: spec.icon_url.as_deref(),
                status: ClientStatus::Active.as_str(),
                owner_id: Some(owner_id),
                secret_hash: hash.as_ref().map(|h| h.as_slice()),
                created_at: now,
                updated_at: now,
            },
        )?;
        audit::record(
            conn,
            audit::Event::new(actor, audit::CLIENT_CREATED)
                .target("client", client_id.as_str())
                .details(json!({
                    "name": spec.name.as_str(),
                    "type": spec.client_type.as_str(),
                    "grant_types": grants,
                    "scopes": scopes,
                    "redirect_uris": uris,
                    "trusted": spec.trusted,
                })),
        )
    })?;
    Ok(Created { client_id, secret })
}

/// Pauses or resumes a client; recorded with the actor.
pub fn set_status(
    conn: &mut MysqlConnection,
    client_id: &str,
    status: ClientStatus,
    actor: &str,
) -> Result<(), ClientError> {
    conn.transaction(|conn| {
        if !models::clients::update_status(conn, client_id, status.as_str())? {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        }
        let action = match status {
            ClientStatus::Paused => audit::CLIENT_PAUSED,
            ClientStatus::Active => audit::CLIENT_RESUMED,
        };
        audit::record(
            conn,
            audit::Event::new(actor, action).target("client", client_id),
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
    actor: &str,
) -> Result<(), ClientError> {
    conn.transaction(|conn| {
        let Some(client) = models::clients::find_by_client_id(conn, client_id)? else {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        };
        if !client.is_confidential() {
            return Ok(());
        }
        let grants: Vec<GrantType> = GrantType::parse_list(&client.grant_types)
            .unwrap_or_default()
            .into_iter()
            .filter(|g| *g != GrantType::ClientCredentials)
            .collect();
        models::clients::make_public(conn, client.id, &GrantType::join(&grants))?;
        let revoked = models::grants::revoke_for_client(conn, client.id, models::now())?;
        audit::record(
            conn,
            audit::Event::new(actor, audit::CLIENT_MADE_PUBLIC)
                .target("client", client_id)
                .details(json!({ "grants_revoked": revoked })),
        )?;
        Ok(())
    })
}

pub fn delete(conn: &mut MysqlConnection, client_id: &str, actor: &str) -> Result<(), ClientError> {
    conn.transaction(|conn| {
        let Some(client) = models::clients::find_by_client_id(conn, client_id)? else {
            return Err(ClientError::UnknownClient(client_id.to_string()));
        };
        models::clients::delete(conn, client_id)?;
        audit::record(
            conn,
            audit::Event::new(actor, audit::CLIENT_DELETED)
                .target("client", client_id)
                .details(json!({ "name": client.name })),
        )?;
        Ok(())
    })
}

impl From<diesel::result::Error> for ClientError {
    fn from(e: diesel::result::Error) -> Self {
        ClientError::Db(e.into())
    }
}
