//! Which scope a request may have: the client's allowed scopes, the globally allowed ones
//! and, for `matomo:superuser`, the approving user's role.

use crate::domain::{Client, Role, Scope};
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

/// A token request names at most one scope (as in Matomo).
pub fn for_token(requested: Option<&str>, permitted: &[Scope]) -> Result<Scope, OAuthError> {
    match requested {
        None => default_scope(permitted).ok_or_else(|| {
            OAuthError::invalid_scope("This client has no scope it may be granted.")
        }),
        Some(raw) => {
            let scopes = Scope::parse_list(raw).map_err(|e| OAuthError::invalid_scope(e.0))?;
            match scopes.as_slice() {
                [one] if permitted.contains(one) => Ok(*one),
                [one] => Err(OAuthError::invalid_scope(format!(
                    "Scope {one} is not allowed for this client."
                ))),
                _ => Err(OAuthError::invalid_scope(
                    "A token request may name exactly one scope.",
                )),
            }
        }
    }
}

/// An authorization request may name several scopes; each must be permitted.
pub fn for_authorization(
    requested: Option<&str>,
    permitted: &[Scope],
) -> Result<Vec<Scope>, String> {
    let Some(raw) = requested else {
        return default_scope(permitted)
            .map(|s| vec![s])
            .ok_or_else(|| "This client has no scope it may be granted.".to_string());
    };
    let mut scopes = Scope::parse_list(raw).map_err(|e| e.0)?;
    if scopes.is_empty() {
        return Err("scope is empty.".into());
    }
    if let Some(s) = scopes.iter().find(|s| !permitted.contains(s)) {
        return Err(format!("Scope {s} is not allowed for this client."));
    }
    scopes.sort();
    Ok(scopes)
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
        assert_eq!(
            for_authorization(Some("matomo:write matomo:read"), &p).unwrap(),
            vec![Scope::Read, Scope::Write]
        );
        assert!(for_authorization(Some("matomo:superuser"), &p).is_err());
        assert!(!role_allows(Role::Support, Scope::Superuser));
        assert!(role_allows(Role::Superuser, Scope::Superuser));
    }
}
