//! Which scope a request may have: the client's allowed scopes, the globally allowed ones
//! and, for `matomo:superuser`, the approving user's role. The identity scopes of OpenID
//! Connect are allowed to every client when the settings allow them.

use crate::domain::{Client, Identity, Role, Scope, ScopeRequest, ScopeSet};
use crate::oauth::error::OAuthError;
use crate::oauth::settings::Settings;

/// The scopes this client may be granted now, least privileged first.
pub fn permitted(client: &Client, settings: &Settings) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = (client.scopes.iter().copied())
        .filter(|s| settings.allowed_scopes.contains(s))
        .collect();
    scopes.sort();
    scopes
}

/// The scope used when a request names none: `matomo:read` when allowed, else the narrowest.
pub fn default_scope(permitted: &[Scope]) -> Option<Scope> {
    if permitted.contains(&Scope::Read) {
        Some(Scope::Read)
    } else {
        permitted.iter().min().copied()
    }
}

/// Whether a user with `role` may approve (or act with) `scope`.
pub fn role_allows(role: Role, scope: Scope) -> bool {
    scope != Scope::Superuser || role == Role::Superuser
}

/// A client-credentials request names at most one scope (as in Matomo), and no identity
/// scope: there is no user to identify.
pub fn for_token(requested: Option<&str>, permitted: &[Scope]) -> Result<Scope, OAuthError> {
    let Some(raw) = requested else {
        return default_scope(permitted).ok_or_else(|| {
            OAuthError::invalid_scope("This client has no scope it may be granted.")
        });
    };
    let asked: ScopeSet = raw
        .parse()
        .map_err(|e: crate::domain::InvalidInput| OAuthError::invalid_scope(e.0))?;
    if !asked.identity().is_empty() {
        return Err(OAuthError::invalid_scope(
            "openid, profile and email identify a signed-in user; client credentials have none.",
        ));
    }
    match asked.matomo() {
        Some(one) if permitted.contains(&one) => Ok(one),
        Some(one) => Err(OAuthError::invalid_scope(format!(
            "Scope {one} is not allowed for this client."
        ))),
        None => Err(OAuthError::invalid_scope(
            "A token request may name exactly one scope.",
        )),
    }
}

/// A refresh may ask for less than the grant holds, never more (RFC 6749 §6).
pub fn for_refresh(requested: Option<&str>, held: ScopeSet) -> Result<ScopeSet, OAuthError> {
    let Some(raw) = requested else {
        return Ok(held);
    };
    let asked: ScopeSet = raw
        .parse()
        .map_err(|e: crate::domain::InvalidInput| OAuthError::invalid_scope(e.0))?;
    if !held.covers(asked) {
        return Err(OAuthError::invalid_scope(format!(
            "A refresh cannot widen the scope beyond {held}."
        )));
    }
    Ok(asked)
}

/// An authorization request may name several Matomo scopes (the user chooses one) and
/// identity scopes; each must be permitted. With no scope, the default Matomo scope.
pub fn for_authorization(
    requested: Option<&str>,
    permitted: &[Scope],
    identity: Identity,
) -> Result<ScopeRequest, String> {
    let Some(raw) = requested else {
        return default_scope(permitted)
            .map(|s| ScopeRequest {
                matomo: vec![s],
                identity: Identity::NONE,
            })
            .ok_or_else(|| "This client has no scope it may be granted.".to_string());
    };
    let request = ScopeRequest::parse(raw).map_err(|e| e.0)?;
    if let Some(s) = request.matomo.iter().find(|s| !permitted.contains(s)) {
        return Err(format!("Scope {s} is not allowed for this client."));
    }
    if let Some(s) = request.identity.iter().find(|s| !identity.contains(*s)) {
        return Err(format!("Scope {s} is not allowed on this server."));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_single_scope_tokens() {
        let p = vec![Scope::Read, Scope::Write];
        assert_eq!(for_token(None, &p).unwrap(), Scope::Read);
        assert_eq!(for_token(Some("matomo:write"), &p).unwrap(), Scope::Write);
        assert!(for_token(Some("matomo:admin"), &p).is_err());
        assert!(for_token(Some("matomo:read matomo:write"), &p).is_err());
        assert_eq!(
            default_scope(&[Scope::Admin, Scope::Write]),
            Some(Scope::Write)
        );
        let all = Identity::of(&crate::domain::IdentityScope::ALL);
        assert_eq!(
            for_authorization(Some("matomo:write matomo:read"), &p, all)
                .unwrap()
                .matomo,
            vec![Scope::Read, Scope::Write]
        );
        assert!(for_authorization(Some("matomo:superuser"), &p, all).is_err());
        assert!(for_authorization(Some("openid"), &p, all).is_ok());
        assert!(for_authorization(Some("openid"), &p, Identity::NONE).is_err());
        assert!(for_token(Some("openid matomo:read"), &p).is_err());
        let held: ScopeSet = "openid email matomo:write".parse().unwrap();
        assert_eq!(
            for_refresh(Some("openid matomo:read"), held)
                .unwrap()
                .to_string(),
            "openid matomo:read"
        );
        assert!(for_refresh(Some("openid profile matomo:read"), held).is_err());
        assert!(!role_allows(Role::Support, Scope::Superuser));
        assert!(role_allows(Role::Superuser, Scope::Superuser));
    }
}
