//! The current OAuth 2.0 settings (read per request, so a change applies at once).

use diesel::MysqlConnection;

use crate::audit;
use crate::db::DbError;
use crate::db::models::oauth_settings;
use crate::domain::Client;
use crate::domain::{
    FieldErrors, GrantType, Identity, IdentityScope, InvalidInput, Scope, SigningAlg,
};

/// Codes live at most ten minutes (RFC 6749 §4.1.2), whatever the row says.
pub const MAX_CODE_LIFETIME_SECS: i64 = 600;

#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_lifetime: i64,
    pub refresh_token_lifetime: i64,
    pub auth_code_lifetime: i64,
    pub auth_code_enabled: bool,
    pub client_credentials_enabled: bool,
    pub refresh_tokens_enabled: bool,
    pub allowed_scopes: Vec<Scope>,
    /// The OpenID Connect scopes clients may ask for (all three by default).
    pub allowed_identity: Identity,
    /// RFC 7591 registration at `/oauth2/register`; off by default.
    pub registration_enabled: bool,
    pub registration_policy: RegistrationPolicy,
    /// Days audit events are kept; 0 keeps them forever.
    pub audit_retention_days: i64,
    /// Private-use redirect URI schemes accepted for native apps besides reverse-domain
    /// ones (RFC 8252 §7.1), such as the editors' `vscode` and `cursor`.
    pub allowed_app_schemes: Vec<String>,
    /// What access tokens are signed with; changing it rotates to a key of the new type.
    pub signing_alg: SigningAlg,
    /// Superusers (and support staff) must sign in with a second factor; until they enrol
    /// they reach nothing but the enrolment page.
    pub require_2fa_superusers: bool,
    pub require_2fa_support: bool,
    /// The device authorization grant (RFC 8628); off by default.
    pub device_flow_enabled: bool,
}

impl Settings {
    /// How long an access token issued to `client` lives: its own lifetime, else this one.
    pub fn access_lifetime(&self, client: &Client) -> i64 {
        client
            .access_token_lifetime
            .unwrap_or(self.access_token_lifetime)
            .clamp(1, crate::oauth::keys::MAX_ACCESS_TOKEN_LIFETIME_SECS)
    }

    /// How long a refresh-token family of `client` lives: its own lifetime, else this one.
    pub fn refresh_lifetime(&self, client: &Client) -> i64 {
        client
            .refresh_token_lifetime
            .unwrap_or(self.refresh_token_lifetime)
    }

    /// Whether a user of `role` must have a second factor.
    pub fn requires_second_factor(&self, role: crate::domain::Role) -> bool {
        match role {
            crate::domain::Role::Superuser => self.require_2fa_superusers,
            crate::domain::Role::Support => self.require_2fa_support,
            crate::domain::Role::User => false,
        }
    }
}

/// Why a grant may not be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    /// Switched off in General settings.
    DisabledOnServer,
    /// Not among the client's grant types.
    NotForClient,
}

impl GrantRefusal {
    /// A description for the client's developer (RFC 6749 `unauthorized_client`).
    pub fn describe(self, grant: GrantType) -> String {
        match self {
            GrantRefusal::DisabledOnServer => {
                format!("The {} grant is disabled on this server.", grant.as_str())
            }
            GrantRefusal::NotForClient => {
                format!("This client may not use the {} grant.", grant.as_str())
            }
        }
    }
}

impl Settings {
    /// Whether `grant` is switched on in General settings.
    pub fn grant_enabled(&self, grant: GrantType) -> bool {
        match grant {
            GrantType::AuthorizationCode => self.auth_code_enabled,
            GrantType::ClientCredentials => self.client_credentials_enabled,
            GrantType::RefreshToken => self.refresh_tokens_enabled,
            GrantType::DeviceCode => self.device_flow_enabled,
        }
    }

    /// The one rule for every grant: switched on in the settings and allowed for the
    /// client. Token requests, authorization, the consent answer and refresh issuance
    /// all ask here.
    pub fn grant_allowed(&self, client: &Client, grant: GrantType) -> Result<(), GrantRefusal> {
        if !self.grant_enabled(grant) {
            return Err(GrantRefusal::DisabledOnServer);
        }
        if !client.allows_grant(grant) {
            return Err(GrantRefusal::NotForClient);
        }
        Ok(())
    }
}

/// Who may register a client dynamically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationPolicy {
    /// Anyone, rate-limited per client address.
    Open,
    /// Only the bearer of an initial access token a superuser created.
    Token,
}

impl RegistrationPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationPolicy::Open => "open",
            RegistrationPolicy::Token => "token",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(RegistrationPolicy::Open),
            "token" => Some(RegistrationPolicy::Token),
            _ => None,
        }
    }
}

impl Settings {
    pub fn load(conn: &mut MysqlConnection) -> Result<Self, DbError> {
        Ok(Self::from_row(oauth_settings::get(conn)?))
    }

    fn from_row(row: oauth_settings::SettingsRow) -> Self {
        Self {
            // Bounded here too, whatever the row says: the key rotation and the RFC depend on it.
            access_token_lifetime: i64::from(row.access_token_lifetime)
                .clamp(1, crate::oauth::keys::MAX_ACCESS_TOKEN_LIFETIME_SECS),
            refresh_token_lifetime: row.refresh_token_lifetime.into(),
            auth_code_lifetime: i64::from(row.auth_code_lifetime).clamp(1, MAX_CODE_LIFETIME_SECS),
            auth_code_enabled: row.auth_code_enabled,
            client_credentials_enabled: row.client_credentials_enabled,
            refresh_tokens_enabled: row.refresh_tokens_enabled,
            // Written only through validated forms; an unknown word would be skipped, not trusted.
            allowed_scopes: row
                .allowed_scopes
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect(),
            allowed_identity: identity_of(&row.allowed_scopes),
            registration_enabled: row.registration_enabled,
            // The CHECK constraint keeps the column one of the two; token is the safer reading.
            registration_policy: RegistrationPolicy::parse(&row.registration_policy)
                .unwrap_or(RegistrationPolicy::Token),
            audit_retention_days: i64::from(row.audit_retention_days).clamp(0, MAX_RETENTION_DAYS),
            allowed_app_schemes: row
                .allowed_app_schemes
                .split_whitespace()
                .filter(|s| app_scheme_is_valid(s))
                .map(str::to_string)
                .collect(),
            // Written only as one of the three names; RS256 is what Matomo's clients expect.
            signing_alg: SigningAlg::parse(&row.signing_alg).unwrap_or_default(),
            require_2fa_superusers: row.require_2fa_superusers,
            require_2fa_support: row.require_2fa_support,
            device_flow_enabled: row.device_flow_enabled,
        }
    }
}

/// The longest audit retention the form accepts (ten years).
pub const MAX_RETENTION_DAYS: i64 = 3650;

/// A scheme name as RFC 3986 §3.1 allows, lower-case, that is not one of the web's own.
pub fn app_scheme_is_valid(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        && scheme.len() <= 40
        && ![
            "http",
            "https",
            "javascript",
            "data",
            "file",
            "blob",
            "about",
            "vbscript",
        ]
        .contains(&scheme)
}

/// Bounds the General settings form enforces.
pub const ACCESS_LIFETIME_RANGE: (i64, i64) =
    (60, crate::oauth::keys::MAX_ACCESS_TOKEN_LIFETIME_SECS);
pub const MAX_REFRESH_LIFETIME_SECS: i64 = 365 * 86_400;
pub const CODE_LIFETIME_RANGE: (i64, i64) = (10, MAX_CODE_LIFETIME_SECS);

/// The form as typed: numbers are still text so that a bad value can be shown back.
#[derive(Debug, Clone, Default)]
pub struct SettingsInput {
    pub access_token_lifetime: String,
    pub refresh_token_lifetime: String,
    pub auth_code_lifetime: String,
    pub auth_code_enabled: bool,
    pub client_credentials_enabled: bool,
    pub refresh_tokens_enabled: bool,
    pub allowed_scopes: Vec<String>,
    pub registration_enabled: bool,
    pub registration_policy: String,
    pub audit_retention_days: String,
    /// Space- or comma-separated scheme names.
    pub allowed_app_schemes: String,
    /// RS256, ES256 or EdDSA; empty is RS256.
    pub signing_alg: String,
    pub require_2fa_superusers: bool,
    pub require_2fa_support: bool,
    pub device_flow_enabled: bool,
}

impl From<&Settings> for SettingsInput {
    fn from(s: &Settings) -> Self {
        Self {
            access_token_lifetime: s.access_token_lifetime.to_string(),
            refresh_token_lifetime: s.refresh_token_lifetime.to_string(),
            auth_code_lifetime: s.auth_code_lifetime.to_string(),
            auth_code_enabled: s.auth_code_enabled,
            client_credentials_enabled: s.client_credentials_enabled,
            refresh_tokens_enabled: s.refresh_tokens_enabled,
            allowed_scopes: (s.scopes_text().split_whitespace())
                .map(str::to_string)
                .collect(),
            registration_enabled: s.registration_enabled,
            registration_policy: s.registration_policy.as_str().to_string(),
            audit_retention_days: s.audit_retention_days.to_string(),
            allowed_app_schemes: s.allowed_app_schemes.join(" "),
            signing_alg: s.signing_alg.as_str().to_string(),
            require_2fa_superusers: s.require_2fa_superusers,
            require_2fa_support: s.require_2fa_support,
            device_flow_enabled: s.device_flow_enabled,
        }
    }
}

impl SettingsInput {
    /// Every setting's name, as `Settings::as_json` writes it and the admin API's
    /// `OAuth2.setSettings` takes it.
    pub const NAMES: [&'static str; 15] = [
        "access_token_lifetime",
        "refresh_token_lifetime",
        "auth_code_lifetime",
        "auth_code_enabled",
        "client_credentials_enabled",
        "refresh_tokens_enabled",
        "device_flow_enabled",
        "allowed_scopes",
        "registration_enabled",
        "registration_policy",
        "audit_retention_days",
        "allowed_app_schemes",
        "signing_alg",
        "require_2fa_superusers",
        "require_2fa_support",
    ];

    /// Types `value` into the setting `name` (one of [`Self::NAMES`]); switches take
    /// `1`/`0`/`true`/`false`, `allowed_scopes` a space- or comma-separated list.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), InvalidInput> {
        let switch = |value: &str| match value.trim() {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(InvalidInput::new("use 1 or 0 (true or false)")),
        };
        let value_text = value.to_string();
        match name {
            "access_token_lifetime" => self.access_token_lifetime = value_text,
            "refresh_token_lifetime" => self.refresh_token_lifetime = value_text,
            "auth_code_lifetime" => self.auth_code_lifetime = value_text,
            "auth_code_enabled" => self.auth_code_enabled = switch(value)?,
            "client_credentials_enabled" => self.client_credentials_enabled = switch(value)?,
            "refresh_tokens_enabled" => self.refresh_tokens_enabled = switch(value)?,
            "device_flow_enabled" => self.device_flow_enabled = switch(value)?,
            "allowed_scopes" => {
                self.allowed_scopes = (value.split(|c: char| c == ',' || c.is_whitespace()))
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "registration_enabled" => self.registration_enabled = switch(value)?,
            "registration_policy" => self.registration_policy = value_text,
            "audit_retention_days" => self.audit_retention_days = value_text,
            "allowed_app_schemes" => self.allowed_app_schemes = value_text,
            "signing_alg" => self.signing_alg = value_text,
            "require_2fa_superusers" => self.require_2fa_superusers = switch(value)?,
            "require_2fa_support" => self.require_2fa_support = switch(value)?,
            _ => return Err(InvalidInput::new("is not a setting")),
        }
        Ok(())
    }
}

pub(crate) fn seconds(
    errors: &mut FieldErrors,
    field: &'static str,
    raw: &str,
    (min, max): (i64, i64),
) -> Option<i64> {
    let value = raw.trim();
    let parsed = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse::<i64>().ok()
    } else {
        None
    };
    match parsed {
        Some(n) if (min..=max).contains(&n) => Some(n),
        Some(_) => {
            errors.add(
                field,
                format!("Enter a number of seconds from {min} to {max}."),
            );
            None
        }
        None => {
            errors.add(field, "Enter a whole number of seconds, such as 3600.");
            None
        }
    }
}

impl SettingsInput {
    /// Checks every rule of the form at once; the messages name what to type instead.
    pub fn validate(&self) -> Result<Settings, FieldErrors> {
        let mut errors = FieldErrors::default();
        let access = seconds(
            &mut errors,
            "access_token_lifetime",
            &self.access_token_lifetime,
            ACCESS_LIFETIME_RANGE,
        );
        let refresh = seconds(
            &mut errors,
            "refresh_token_lifetime",
            &self.refresh_token_lifetime,
            (1, MAX_REFRESH_LIFETIME_SECS),
        );
        if let (Some(a), Some(r)) = (access, refresh)
            && r < a
        {
            errors.add(
                "refresh_token_lifetime",
                format!("The refresh token lifetime must be at least the access token lifetime ({a} seconds)."),
            );
        }
        let code = seconds(
            &mut errors,
            "auth_code_lifetime",
            &self.auth_code_lifetime,
            CODE_LIFETIME_RANGE,
        );
        let (scopes, identity) = self.scopes(&mut errors);
        let policy = RegistrationPolicy::parse(&self.registration_policy);
        if policy.is_none() {
            errors.add(
                "registration_policy",
                "Choose who may register: anyone, or holders of an initial access token.",
            );
        }
        let retention = self.retention(&mut errors);
        let schemes = self.app_schemes(&mut errors);
        let signing_alg = match self.signing_alg.trim() {
            "" => Some(SigningAlg::default()),
            raw => errors.take("signing_alg", SigningAlg::parse(raw)),
        };
        errors.check(|| Settings {
            access_token_lifetime: access.unwrap_or_default(),
            refresh_token_lifetime: refresh.unwrap_or_default(),
            auth_code_lifetime: code.unwrap_or_default(),
            auth_code_enabled: self.auth_code_enabled,
            client_credentials_enabled: self.client_credentials_enabled,
            refresh_tokens_enabled: self.refresh_tokens_enabled,
            allowed_scopes: scopes,
            allowed_identity: identity,
            registration_enabled: self.registration_enabled,
            registration_policy: policy.unwrap_or(RegistrationPolicy::Token),
            audit_retention_days: retention,
            allowed_app_schemes: schemes,
            signing_alg: signing_alg.unwrap_or_default(),
            require_2fa_superusers: self.require_2fa_superusers,
            require_2fa_support: self.require_2fa_support,
            device_flow_enabled: self.device_flow_enabled,
        })
    }

    /// The Matomo scopes and the identity scopes ticked.
    fn scopes(&self, errors: &mut FieldErrors) -> (Vec<Scope>, Identity) {
        if self.allowed_scopes.is_empty() {
            errors.add("allowed_scopes", "Choose at least one allowed scope.");
            return (Vec::new(), Identity::NONE);
        }
        let request = crate::domain::ScopeRequest::parse(&self.allowed_scopes.join(" "));
        match errors.take("allowed_scopes", request) {
            Some(request) => (request.matomo, request.identity),
            None => (Vec::new(), Identity::NONE),
        }
    }

    fn retention(&self, errors: &mut FieldErrors) -> i64 {
        let retention = self.audit_retention_days.trim();
        match retention.parse::<i64>() {
            Ok(n)
                if (0..=MAX_RETENTION_DAYS).contains(&n)
                    && retention.bytes().all(|b| b.is_ascii_digit()) =>
            {
                n
            }
            _ => {
                errors.add(
                    "audit_retention_days",
                    format!("Enter a number of days from 0 (keep forever) to {MAX_RETENTION_DAYS}, such as 400."),
                );
                0
            }
        }
    }

    /// Application schemes separated by commas or spaces, lowercased, without `:`.
    fn app_schemes(&self, errors: &mut FieldErrors) -> Vec<String> {
        let mut schemes: Vec<String> = Vec::new();
        for raw in self
            .allowed_app_schemes
            .split(|c: char| c == ',' || c.is_whitespace())
        {
            let scheme = raw.trim().trim_end_matches(':').to_ascii_lowercase();
            if scheme.is_empty() || schemes.contains(&scheme) {
                continue;
            }
            if app_scheme_is_valid(&scheme) {
                schemes.push(scheme);
            } else {
                errors.add(
                    "allowed_app_schemes",
                    format!("'{}' is not an application scheme: use letters, digits, '+', '-' or '.', starting with a letter (not http or https).", raw.trim()),
                );
            }
        }
        if schemes.join(" ").len() > 255 {
            errors.add(
                "allowed_app_schemes",
                "List at most 255 characters of schemes.",
            );
        }
        schemes
    }
}

/// The identity scopes named in the stored list.
fn identity_of(stored: &str) -> Identity {
    let named: Vec<IdentityScope> = (IdentityScope::ALL.into_iter())
        .filter(|i| stored.split_whitespace().any(|s| s == i.as_str()))
        .collect();
    Identity::of(&named)
}

impl Settings {
    /// Every allowed scope, space-separated: the identity scopes, then the Matomo ones.
    pub fn scopes_text(&self) -> String {
        crate::domain::scope_text(self.allowed_identity, &self.allowed_scopes)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "access_token_lifetime": self.access_token_lifetime,
            "refresh_token_lifetime": self.refresh_token_lifetime,
            "auth_code_lifetime": self.auth_code_lifetime,
            "auth_code_enabled": self.auth_code_enabled,
            "client_credentials_enabled": self.client_credentials_enabled,
            "refresh_tokens_enabled": self.refresh_tokens_enabled,
            "allowed_scopes": self.scopes_text(),
            "registration_enabled": self.registration_enabled,
            "registration_policy": self.registration_policy.as_str(),
            "audit_retention_days": self.audit_retention_days,
            "allowed_app_schemes": self.allowed_app_schemes.join(" "),
            "signing_alg": self.signing_alg.as_str(),
            "require_2fa_superusers": self.require_2fa_superusers,
            "require_2fa_support": self.require_2fa_support,
            "device_flow_enabled": self.device_flow_enabled,
        })
    }

    /// Every setting, as `consentry settings show --json` prints it.
    pub fn as_json(&self) -> serde_json::Value {
        self.to_json()
    }

    /// Stores validated settings and records the old and new values; returns whether
    /// anything changed (nothing is written or recorded otherwise).
    pub fn save(&self, conn: &mut MysqlConnection, actor: &audit::Actor) -> Result<bool, DbError> {
        crate::db::transaction(conn, |conn| {
            let old = Settings::from_row(oauth_settings::get_for_update(conn)?);
            let (before, after) = (old.to_json(), self.to_json());
            if before == after {
                return Ok(false);
            }
            let scopes = self.scopes_text();
            let schemes_list = self.allowed_app_schemes.join(" ");
            let narrow = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
            oauth_settings::update(
                conn,
                &oauth_settings::SettingsChanges {
                    access_token_lifetime: narrow(self.access_token_lifetime),
                    refresh_token_lifetime: narrow(self.refresh_token_lifetime),
                    auth_code_lifetime: narrow(self.auth_code_lifetime),
                    auth_code_enabled: self.auth_code_enabled,
                    client_credentials_enabled: self.client_credentials_enabled,
                    refresh_tokens_enabled: self.refresh_tokens_enabled,
                    allowed_scopes: &scopes,
                    registration_enabled: self.registration_enabled,
                    registration_policy: self.registration_policy.as_str(),
                    audit_retention_days: narrow(self.audit_retention_days),
                    allowed_app_schemes: &schemes_list,
                    signing_alg: self.signing_alg.as_str(),
                    require_2fa_superusers: self.require_2fa_superusers,
                    require_2fa_support: self.require_2fa_support,
                    device_flow_enabled: self.device_flow_enabled,
                    updated_at: Some(crate::db::models::now()),
                    updated_by: Some(&actor.name),
                },
            )?;
            audit::record(
                conn,
                audit::Event::by(actor, audit::SETTINGS_CHANGED)
                    .target("settings", "oauth2")
                    .details(serde_json::json!({ "old": before, "new": after })),
            )?;
            if old.signing_alg != self.signing_alg {
                // A key of the new type signs from now on; the old one stays published
                // until every token it signed has expired.
                crate::oauth::keys::rotate(conn, crate::db::models::now(), actor).map_err(|e| {
                    match e {
                        crate::oauth::error::OAuthError::Db(db) => db,
                        other => DbError::Unavailable(other.to_string()),
                    }
                })?;
            }
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(access: &str, refresh: &str, code: &str, scopes: &[&str]) -> SettingsInput {
        SettingsInput {
            access_token_lifetime: access.into(),
            refresh_token_lifetime: refresh.into(),
            auth_code_lifetime: code.into(),
            allowed_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            registration_policy: "open".into(),
            audit_retention_days: "400".into(),
            ..SettingsInput::default()
        }
    }

    #[test]
    fn accepts_the_bounds() {
        let s = input("60", "31536000", "10", &["matomo:write", "matomo:read"])
            .validate()
            .unwrap();
        assert_eq!(s.allowed_scopes, vec![Scope::Read, Scope::Write]);
        assert!(
            input("86400", "86400", "600", &["matomo:read"])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn names_each_broken_rule() {
        let e = input("59", "31536001", "601", &[]).validate().unwrap_err();
        assert_eq!(e.len(), 4);
        let e = input("3600.5", "x", " ", &["matomo:root"])
            .validate()
            .unwrap_err();
        assert!(
            e.get("access_token_lifetime")
                .unwrap()
                .contains("whole number")
        );
        assert!(e.get("refresh_token_lifetime").is_some());
        assert!(e.get("auth_code_lifetime").is_some());
        assert!(e.get("allowed_scopes").unwrap().contains("matomo:root"));
        let e = input("7200", "3600", "60", &["matomo:read"])
            .validate()
            .unwrap_err();
        assert!(
            e.get("refresh_token_lifetime")
                .unwrap()
                .contains("at least")
        );
        assert!(
            input("-60", "3600", "60", &["matomo:read"])
                .validate()
                .is_err()
        );
    }
}
