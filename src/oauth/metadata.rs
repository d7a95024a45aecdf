//! Authorization server metadata (RFC 8414), which is also the OpenID Provider metadata
//! (OpenID Connect Discovery 1.0 §3: one document at both addresses, so the two cannot
//! disagree), and protected resource metadata (RFC 9728), reflecting the current settings.

use serde_json::{Value, json};

use crate::domain::GrantType;
use crate::oauth::oidc;
use crate::oauth::settings::Settings;

pub fn document(issuer: &str, settings: &Settings) -> Value {
    let grants: Vec<&str> = GrantType::ALL
        .into_iter()
        .filter(|g| settings.grant_enabled(*g))
        .map(GrantType::as_str)
        .collect();
    let scopes = settings.scopes_text();
    let scopes: Vec<&str> = scopes.split_whitespace().collect();
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "jwks_uri": format!("{issuer}/oauth2/jwks"),
        "grant_types_supported": grants,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
        "authorization_response_iss_parameter_supported": true,
        // The algorithm access tokens are signed with now (RFC 9068 access tokens; the
        // keys are at `jwks_uri`).
        "access_token_signing_alg_values_supported": [settings.signing_alg.as_str()],
        // OpenID Connect Discovery 1.0 §3. ID tokens are signed with the same key as
        // access tokens.
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [settings.signing_alg.as_str()],
        "claims_supported": oidc::CLAIMS_SUPPORTED,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": oidc::ACR_VALUES,
    });
    if settings.device_flow_enabled {
        // RFC 8628 §4.
        document["device_authorization_endpoint"] =
            json!(format!("{issuer}/oauth2/device_authorization"));
    }
    if settings.registration_enabled {
        document["registration_endpoint"] = json!(format!("{issuer}/oauth2/register"));
    }
    document
}

/// RFC 9728: the API as a protected resource, and where its tokens come from.
pub fn protected_resource(resource: &str, issuer: &str, settings: &Settings) -> Value {
    let scopes: Vec<&str> = settings.allowed_scopes.iter().map(|s| s.as_str()).collect();
    json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "Consentry analytics API",
    })
}
