//! OpenID Connect RP-initiated logout 1.0: which client asks, and where the user may be
//! sent afterwards. Until the client and the URI are known good, nothing is redirected
//! (no open redirect): the caller shows the refusal on a page.

use diesel::MysqlConnection;

use crate::db::models;
use crate::domain::{Client, ClientId};
use crate::oauth::Protocol;
use crate::oauth::error::OAuthError;
use crate::oauth::oidc::{self, Hint};
use crate::oauth::params::Params;

/// A checked logout request.
#[derive(Debug, Clone)]
pub struct LogoutRequest {
    /// The client that asks, from `id_token_hint` or `client_id`.
    pub client: Option<Client>,
    /// Whom the hint names: a signed-in user it names may be signed out without asking.
    pub hint: Option<Hint>,
    /// Where to send the user afterwards: the registered `post_logout_redirect_uri` with
    /// `state` (§3).
    pub redirect: Option<String>,
}

/// Checks a logout request; `Err` inside: why it is refused, for a page.
pub fn validate(
    conn: &mut MysqlConnection,
    proto: &Protocol,
    params: &Params,
) -> Result<Result<LogoutRequest, String>, OAuthError> {
    if let Some(name) = params.repeated() {
        return Ok(Err(format!("The request repeats {name}.")));
    }
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => match oidc::id_token_hint(conn, proto, token)? {
            Some(hint) => Some(hint),
            None => {
                return Ok(Err(
                    "id_token_hint is not an ID token this server issued.".into()
                ));
            }
        },
    };
    let named = params.get("client_id");
    if let (Some(hint), Some(named)) = (&hint, named)
        && hint.client_id != named
    {
        return Ok(Err("client_id is not the client of id_token_hint.".into()));
    }
    let client_id = hint.as_ref().map(|h| h.client_id.as_str()).or(named);
    let client = match client_id.map(ClientId::parse) {
        None => None,
        Some(Ok(id)) => models::clients::find_by_client_id(conn, id.as_str())?,
        Some(Err(_)) => None,
    };
    if client_id.is_some() && client.is_none() {
        return Ok(Err(
            "No application is registered with this client_id.".into()
        ));
    }
    if client.as_ref().is_some_and(|c| !c.is_active()) {
        return Ok(Err("This application is paused by an administrator.".into()));
    }
    let redirect = match (params.get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(_), None) => {
            return Ok(Err(
                "post_logout_redirect_uri needs id_token_hint or client_id to say whose it is."
                    .into(),
            ));
        }
        // Anyone may register a client (RFC 7591): without an ID token the client issued,
        // its URI is no proof it asks, and the redirect would serve anyone (RFC 9700 §4.11).
        (Some(_), Some(client)) if client.self_registered && hint.is_none() => {
            return Ok(Err(
                "A self-registered application must send id_token_hint with post_logout_redirect_uri."
                    .into(),
            ));
        }
        (Some(uri), Some(client)) if client.has_post_logout_redirect_uri(uri) => {
            Some(with_state(uri, params.get("state")))
        }
        (Some(_), Some(_)) => {
            return Ok(Err(
                "post_logout_redirect_uri is not registered for this application.".into(),
            ));
        }
    };
    Ok(Ok(LogoutRequest {
        client,
        hint,
        redirect,
    }))
}

/// The registered URI with `state` added to its own query.
fn with_state(uri: &str, state: Option<&str>) -> String {
    match (url::Url::parse(uri), state) {
        (Ok(mut url), Some(state)) => {
            url.query_pairs_mut().append_pair("state", state);
            url.into()
        }
        _ => uri.to_string(),
    }
}
