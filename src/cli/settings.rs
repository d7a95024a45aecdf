//! `consentry settings`: the General settings (OAuth 2.0), as the console's form has them.

use super::*;
use crate::oauth::settings::{Settings, SettingsInput};

#[derive(Subcommand, Debug)]
pub enum SettingsCommand {
    /// Print every setting.
    Show {
        /// Print JSON (times in RFC 3339, UTC) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change settings; the others keep their values. The console form's rules apply;
    /// recorded in the audit log.
    Set(Box<SetArgs>),
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// Access token lifetime in seconds (60 to 86400).
    #[arg(long, value_name = "SECONDS")]
    access_token_lifetime: Option<String>,
    /// Refresh token lifetime in seconds (at least the access token lifetime).
    #[arg(long, value_name = "SECONDS")]
    refresh_token_lifetime: Option<String>,
    /// Authorisation code lifetime in seconds (10 to 600).
    #[arg(long, value_name = "SECONDS")]
    auth_code_lifetime: Option<String>,
    /// The authorisation code grant on or off.
    #[arg(long, value_name = "true|false")]
    auth_code_enabled: Option<bool>,
    /// The client credentials grant on or off.
    #[arg(long, value_name = "true|false")]
    client_credentials_enabled: Option<bool>,
    /// Refresh tokens on or off.
    #[arg(long, value_name = "true|false")]
    refresh_tokens_enabled: Option<bool>,
    /// The allowed scopes, replacing the current ones (matomo:* and openid, profile, email).
    #[arg(long = "allowed-scope", num_args = 1.., value_name = "SCOPE")]
    allowed_scopes: Option<Vec<String>>,
    /// Dynamic client registration (RFC 7591) on or off.
    #[arg(long, value_name = "true|false")]
    registration_enabled: Option<bool>,
    /// Who may register: anyone (open) or holders of an initial access token (token).
    #[arg(long, value_name = "open|token")]
    registration_policy: Option<String>,
    /// Days audit events are kept; 0 keeps them forever.
    #[arg(long, value_name = "DAYS")]
    audit_retention_days: Option<String>,
    /// Private-use redirect schemes native apps may use, separated by spaces or commas.
    #[arg(long, value_name = "SCHEMES")]
    allowed_app_schemes: Option<String>,
    /// RS256 (default), ES256 or EdDSA. Changing it starts a key of the new type at
    /// once; tokens signed with the old key stay valid until they expire.
    #[arg(long, value_name = "RS256|ES256|EdDSA")]
    signing_alg: Option<String>,
    /// Require two-factor authentication for superusers.
    #[arg(long, value_name = "true|false")]
    require_2fa_superusers: Option<bool>,
    /// Require two-factor authentication for support staff.
    #[arg(long, value_name = "true|false")]
    require_2fa_support: Option<bool>,
    /// The device authorization grant (RFC 8628) for devices without a browser.
    #[arg(long, value_name = "true|false")]
    device_flow_enabled: Option<bool>,
    /// Print every setting and whether anything changed, as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn settings(command: SettingsCommand) -> Result<(), CliError> {
    let mut conn = prepared_connection()?;
    let current = Settings::load(&mut conn)?;
    match command {
        SettingsCommand::Show { json } => {
            let all = current.as_json();
            if json {
                println!("{all}");
            } else {
                for (name, value) in all.as_object().into_iter().flatten() {
                    println!("{name:<28} {value}");
                }
            }
        }
        SettingsCommand::Set(args) => {
            let args_json = args.json;
            let changed = set(SettingsInput::from(&current), *args)
                .validate()
                .map_err(|errors| form_error(errors, flag_of))?;
            let json = args_json;
            let saved = changed.save(&mut conn, &cli_actor())?;
            let mut value = changed.as_json();
            value["changed"] = json!(saved);
            if saved {
                report(json, "settings saved", value);
            } else {
                report(
                    json,
                    "nothing changed: the settings already had these values",
                    value,
                );
            }
        }
    }
    Ok(())
}

/// The current settings as the console's form has them, with the flags given typed over.
fn set(mut input: SettingsInput, args: SetArgs) -> SettingsInput {
    fn text(field: &mut String, value: Option<String>) {
        if let Some(value) = value {
            *field = value;
        }
    }
    fn flag(field: &mut bool, value: Option<bool>) {
        if let Some(value) = value {
            *field = value;
        }
    }
    text(&mut input.access_token_lifetime, args.access_token_lifetime);
    text(
        &mut input.refresh_token_lifetime,
        args.refresh_token_lifetime,
    );
    text(&mut input.auth_code_lifetime, args.auth_code_lifetime);
    flag(&mut input.auth_code_enabled, args.auth_code_enabled);
    flag(
        &mut input.client_credentials_enabled,
        args.client_credentials_enabled,
    );
    flag(
        &mut input.refresh_tokens_enabled,
        args.refresh_tokens_enabled,
    );
    if let Some(scopes) = args.allowed_scopes {
        input.allowed_scopes = scopes;
    }
    flag(&mut input.registration_enabled, args.registration_enabled);
    text(&mut input.registration_policy, args.registration_policy);
    text(&mut input.audit_retention_days, args.audit_retention_days);
    text(&mut input.allowed_app_schemes, args.allowed_app_schemes);
    text(&mut input.signing_alg, args.signing_alg);
    flag(
        &mut input.require_2fa_superusers,
        args.require_2fa_superusers,
    );
    flag(&mut input.require_2fa_support, args.require_2fa_support);
    flag(&mut input.device_flow_enabled, args.device_flow_enabled);
    input
}

/// The flag that sets a field of the settings form.
fn flag_of(field: &str) -> &'static str {
    match field {
        "access_token_lifetime" => "--access-token-lifetime",
        "refresh_token_lifetime" => "--refresh-token-lifetime",
        "auth_code_lifetime" => "--auth-code-lifetime",
        "allowed_scopes" => "--allowed-scope",
        "registration_policy" => "--registration-policy",
        "audit_retention_days" => "--audit-retention-days",
        "allowed_app_schemes" => "--allowed-app-schemes",
        _ => "--signing-alg",
    }
}
