//! A client's specification: the create/edit form as typed ([`ClientInput`]), parsed into
//! valid domain values ([`ClientSpec`]) by the one parser the console and the command line
//! share, and the rules across its fields.

use super::{ClientError, invalid};
use crate::domain::{
    Client, ClientName, ClientType, FieldErrors, GrantType, RedirectUri, Scope, SiteLimit,
    parse_description, parse_web_url,
};
use crate::oauth::settings::Settings;
use chrono::NaiveDateTime;

/// A client as requested, every part already a valid domain value.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub name: ClientName,
    pub description: String,
    pub client_type: ClientType,
    pub grants: Vec<GrantType>,
    pub scopes: Vec<Scope>,
    pub redirect_uris: Vec<RedirectUri>,
    /// Where the client may send the user after signing out (RP-initiated logout 1.0).
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Its own token lifetimes in seconds, within the General settings' bounds; `None`:
    /// the server's.
    pub access_token_lifetime: Option<i64>,
    pub refresh_token_lifetime: Option<i64>,
    /// A confidential client must use PKCE too (public and self-registered ones always do).
    pub require_pkce: bool,
    pub trusted: bool,
    /// A resource server that may introspect any client's tokens (RFC 7662 §4).
    pub may_introspect_any: bool,
    pub homepage_url: Option<String>,
    pub icon_url: Option<String>,
    pub privacy_url: Option<String>,
    pub terms_url: Option<String>,
    /// When a confidential client's secret stops working; `None`: never.
    pub secret_expires_at: Option<NaiveDateTime>,
    /// The websites its client-credentials tokens may act on.
    pub site_limit: SiteLimit,
}

/// Rules that involve more than one field or the current settings.
pub fn check_rules(spec: &ClientSpec, settings: &Settings) -> Result<(), ClientError> {
    if spec.grants.is_empty() {
        return Err(invalid("grant", "Choose at least one grant type."));
    }
    if spec.grants == [GrantType::RefreshToken] {
        return Err(invalid(
            "grant",
            "Refresh token only continues what another grant started: add Authorisation code.",
        ));
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

/// The create/edit form as typed.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: String,
    pub description: String,
    pub client_type: String,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// One URI per line.
    pub redirect_uris: String,
    /// One URI per line.
    pub post_logout_redirect_uris: String,
    /// Seconds, or empty for the server's.
    pub access_token_lifetime: String,
    pub refresh_token_lifetime: String,
    pub require_pkce: bool,
    pub trusted: bool,
    pub may_introspect_any: bool,
    pub homepage_url: String,
    pub icon_url: String,
    pub privacy_url: String,
    pub terms_url: String,
    /// A date, an RFC 3339 time, or empty for never.
    pub secret_expires: String,
    /// Website IDs for client-credentials tokens, separated by commas; empty or `all`.
    pub site_ids: String,
    /// The stored expiry, which may stay even once passed; set from the stored client.
    pub kept_secret_expiry: Option<NaiveDateTime>,
    /// Allow native apps' private-use redirect schemes (clients that registered themselves
    /// with them); set from the stored client, never from the form.
    pub native_redirects: bool,
}

impl ClientInput {
    /// The form's values for an existing client.
    pub fn from_row(c: &Client) -> Self {
        Self {
            name: c.name.clone(),
            description: c.description.clone(),
            client_type: c.client_type.as_str().to_string(),
            grant_types: c.grants.iter().map(|g| g.as_str().to_string()).collect(),
            scopes: c.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            redirect_uris: (c.redirect_uris.iter().map(RedirectUri::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            post_logout_redirect_uris: (c.post_logout_redirect_uris.iter())
                .map(RedirectUri::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            access_token_lifetime: c
                .access_token_lifetime
                .map(|n| n.to_string())
                .unwrap_or_default(),
            refresh_token_lifetime: (c.refresh_token_lifetime.map(|n| n.to_string()))
                .unwrap_or_default(),
            require_pkce: c.require_pkce,
            trusted: c.trusted,
            may_introspect_any: c.may_introspect_any,
            homepage_url: c.homepage_url.clone().unwrap_or_default(),
            icon_url: c.icon_url.clone().unwrap_or_default(),
            privacy_url: c.privacy_url.clone().unwrap_or_default(),
            terms_url: c.terms_url.clone().unwrap_or_default(),
            secret_expires: c.secret_expires_at.map(expiry_input).unwrap_or_default(),
            kept_secret_expiry: c.secret_expires_at,
            site_ids: match &c.site_limit {
                SiteLimit::All => String::new(),
                limited => limited.to_string(),
            },
            native_redirects: c.self_registered,
        }
    }

    /// Every field's rules, then the rules across fields; all messages at once.
    pub fn parse(&self, settings: &Settings) -> Result<ClientSpec, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = errors.take("name", ClientName::parse(&self.name));
        let description = errors.take("description", parse_description(&self.description));
        let client_type = errors.take("client_type", ClientType::parse(&self.client_type));
        let grants = errors.take(
            "grant_types",
            GrantType::parse_list(&self.grant_types.join(" ")),
        );
        let scopes = errors.take("scopes", Scope::parse_list(&self.scopes.join(" ")));
        let redirect_uris = self.uris(&mut errors, "redirect_uris", &self.redirect_uris, settings);
        let post_logout_redirect_uris = self.uris(
            &mut errors,
            "post_logout_redirect_uris",
            &self.post_logout_redirect_uris,
            settings,
        );
        let (access_token_lifetime, refresh_token_lifetime) = self.lifetimes(&mut errors, settings);
        let homepage_url = errors.take(
            "homepage_url",
            parse_web_url(&self.homepage_url, "Homepage URL"),
        );
        let icon_url = errors.take("icon_url", parse_web_url(&self.icon_url, "Icon URL"));
        let privacy_url = errors.take(
            "privacy_url",
            parse_web_url(&self.privacy_url, "Privacy policy URL"),
        );
        let terms_url = errors.take("terms_url", parse_web_url(&self.terms_url, "Terms URL"));
        let secret_expires_at = self.secret_expiry(&mut errors);
        let site_limit = errors.take("site_ids", SiteLimit::parse(&self.site_ids));
        let (
            Some(name),
            Some(description),
            Some(client_type),
            Some(grants),
            Some(scopes),
            Some(homepage_url),
            Some(icon_url),
            Some(privacy_url),
            Some(terms_url),
        ) = (
            name,
            description,
            client_type,
            grants,
            scopes,
            homepage_url,
            icon_url,
            privacy_url,
            terms_url,
        )
        else {
            return Err(errors);
        };
        let spec = ClientSpec {
            name,
            description,
            client_type,
            grants,
            scopes,
            redirect_uris,
            post_logout_redirect_uris,
            access_token_lifetime,
            refresh_token_lifetime,
            require_pkce: self.require_pkce,
            trusted: self.trusted,
            may_introspect_any: self.may_introspect_any,
            homepage_url,
            icon_url,
            privacy_url,
            terms_url,
            secret_expires_at: secret_expires_at
                .filter(|_| client_type == ClientType::Confidential),
            site_limit: site_limit.unwrap_or_default(),
        };
        if let Err(ClientError::Invalid { field, message }) = check_rules(&spec, settings) {
            let field = match field {
                "grant" => "grant_types",
                "scope" => "scopes",
                "redirect-uri" => "redirect_uris",
                other => other,
            };
            errors.add(field, message);
        }
        errors.check(|| spec)
    }

    /// The client's own lifetimes: empty or `default` is the server's, anything else within
    /// the bounds of the General settings (the one rule, `settings::seconds`).
    fn lifetimes(
        &self,
        errors: &mut FieldErrors,
        settings: &Settings,
    ) -> (Option<i64>, Option<i64>) {
        let mut read = |field: &'static str, raw: &str, range: (i64, i64)| match raw.trim() {
            "" | "default" => None,
            raw => crate::oauth::settings::seconds(errors, field, raw, range),
        };
        let access = read(
            "access_token_lifetime",
            &self.access_token_lifetime,
            crate::oauth::settings::ACCESS_LIFETIME_RANGE,
        );
        let refresh = read(
            "refresh_token_lifetime",
            &self.refresh_token_lifetime,
            (1, crate::oauth::settings::MAX_REFRESH_LIFETIME_SECS),
        );
        // Against the access lifetime its tokens will have: its own, else the server's.
        let a = access.unwrap_or(settings.access_token_lifetime);
        if let Some(r) = refresh
            && r < a
        {
            errors.add(
                "refresh_token_lifetime",
                format!("The refresh token lifetime must be at least the access token lifetime ({a} seconds)."),
            );
        }
        (access, refresh)
    }

    /// The secret's expiry: a new one must lie ahead; the stored one may stay as it is.
    fn secret_expiry(&self, errors: &mut FieldErrors) -> Option<NaiveDateTime> {
        let at = errors.take(
            "secret_expires",
            crate::domain::parse_secret_expiry(&self.secret_expires),
        )??;
        if Some(at) != self.kept_secret_expiry && at <= crate::db::models::now() {
            errors.add(
                "secret_expires",
                "Choose a date after today, or leave it empty for a secret that never expires.",
            );
        }
        Some(at)
    }

    /// One URI per line, each checked as a redirect URI, repeats dropped.
    fn uris(
        &self,
        errors: &mut FieldErrors,
        field: &'static str,
        lines: &str,
        settings: &Settings,
    ) -> Vec<RedirectUri> {
        let mut uris = Vec::new();
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            let parsed = if self.native_redirects {
                RedirectUri::parse_allowing_native(line, &settings.allowed_app_schemes)
            } else {
                RedirectUri::parse(line)
            };
            if let Some(uri) = errors.take(field, parsed)
                && !uris.contains(&uri)
            {
                uris.push(uri);
            }
        }
        uris
    }
}

/// A stored expiry as the form shows it: the date alone when it is a midnight (UTC).
pub fn expiry_input(at: NaiveDateTime) -> String {
    if at.time() == chrono::NaiveTime::MIN {
        at.format("%Y-%m-%d").to_string()
    } else {
        crate::domain::rfc3339(at)
    }
}
