//! `consentry client`: OAuth 2.0 clients.

use super::*;
use crate::oauth::clients::RotationRequest;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client; a confidential client's secret is printed this once.
    Create(Box<CreateArgs>),
    /// Change a client: what a flag names is replaced, the rest stays (the same rules and
    /// revocations as the console's edit form).
    Edit(Box<EditArgs>),
    /// List clients.
    List {
        /// Print JSON (times in RFC 3339, UTC) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client's ID (as `client list` shows it).
        client_id: String,
        /// Print JSON (times in RFC 3339, UTC) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Pause a client: its requests are refused until it is resumed.
    Pause {
        /// The client's ID.
        client_id: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Resume a paused client.
    Resume {
        /// The client's ID.
        client_id: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client for good.
    Delete {
        /// The client's ID.
        client_id: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// A confidential client's secret: rotate it, end the previous one's grace period.
    #[command(subcommand)]
    Secret(SecretCommand),
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Give the client a new secret, printed this once. With --grace the current secret
    /// keeps working that long, so every server using it can switch without downtime.
    Rotate {
        /// The client's ID.
        client_id: String,
        /// How long the current secret keeps working: none, 1h, 24h or 7d.
        #[arg(long, default_value = "none", value_name = "none|1h|24h|7d")]
        grace: String,
        /// When the new secret expires: a date (00:00 UTC), an RFC 3339 time, or never
        /// (default: the current expiry if it lies ahead, else never).
        #[arg(long, value_name = "DATE|never")]
        expires: Option<String>,
        /// Also revoke every token issued to the client so far (the secret may have leaked).
        #[arg(long)]
        revoke_tokens: bool,
        /// Print {"client_id", "client_secret", "previous_secret_valid_until", ...}.
        #[arg(long)]
        json: bool,
    },
    /// End the previous secret's grace period now: requests with it are refused.
    EndPrevious {
        /// The client's ID.
        client_id: String,
        /// Print {"client_id", "previous_secret_uses"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The name users see on the consent screen.
    #[arg(long)]
    pub name: String,
    /// What the application does, shown to superusers.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Confidential clients get a secret; public ones (apps, SPAs) must use PKCE.
    #[arg(long = "type", value_name = "confidential|public")]
    pub client_type: String,
    /// Grant types: authorization_code, refresh_token, client_credentials,
    /// urn:ietf:params:oauth:grant-type:device_code (or device_code).
    #[arg(long = "grant", num_args = 1.., required = true, value_name = "GRANT")]
    pub grants: Vec<String>,
    /// Scopes it may ask for: matomo:read, matomo:write, matomo:admin, matomo:superuser.
    #[arg(long = "scope", num_args = 1.., required = true, value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Redirect URIs, matched exactly (needed for authorization_code).
    #[arg(long = "redirect-uri", num_args = 1.., value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Where the application may send users after signing them out (OpenID Connect
    /// RP-initiated logout), matched exactly.
    #[arg(long = "post-logout-redirect-uri", num_args = 1.., value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Its access tokens' lifetime in seconds, within the General settings' bounds
    /// (default: the server's).
    #[arg(long, value_name = "SECONDS")]
    pub access_token_lifetime: Option<String>,
    /// Its refresh tokens' lifetime in seconds (default: the server's).
    #[arg(long, value_name = "SECONDS")]
    pub refresh_token_lifetime: Option<String>,
    /// Skip the consent screen for this client.
    #[arg(long)]
    pub trusted: bool,
    /// Require PKCE of a confidential client too (public clients always need it).
    #[arg(long)]
    pub require_pkce: bool,
    /// A resource server: may introspect tokens issued to any client.
    #[arg(long)]
    pub may_introspect_any: bool,
    /// The application's home page (https), linked from the consent screen.
    #[arg(long, value_name = "URL")]
    pub homepage: Option<String>,
    /// The application's icon (https).
    #[arg(long, value_name = "URL")]
    pub icon: Option<String>,
    /// When a confidential client's secret expires: a date (00:00 UTC) or an RFC 3339
    /// time (default: never).
    #[arg(long, value_name = "DATE")]
    pub secret_expires: Option<String>,
    /// The websites its client-credentials tokens may act on: IDs separated by commas,
    /// or all (the default).
    #[arg(long, value_name = "IDS|all")]
    pub sites: Option<String>,
    /// The application's privacy policy (https), linked from the consent screen.
    #[arg(long, value_name = "URL")]
    pub privacy_url: Option<String>,
    /// The application's terms of service (https), linked from the consent screen.
    #[arg(long, value_name = "URL")]
    pub terms_url: Option<String>,
    /// The owning superuser (default: the first superuser).
    #[arg(long)]
    pub owner: Option<String>,
    /// Print {"client_id": ..., "client_secret": ...}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    /// The client's ID (as `client list` shows it).
    pub client_id: String,
    /// The name users see on the consent screen.
    #[arg(long)]
    pub name: Option<String>,
    /// What the application does, shown to superusers.
    #[arg(long)]
    pub description: Option<String>,
    /// Grant types, replacing the current ones.
    #[arg(long = "grant", num_args = 1.., value_name = "GRANT")]
    pub grants: Option<Vec<String>>,
    /// Scopes, replacing the current ones; narrowing revokes the grants beyond them.
    #[arg(long = "scope", num_args = 1.., value_name = "SCOPE")]
    pub scopes: Option<Vec<String>>,
    /// Redirect URIs, replacing the current ones.
    #[arg(long = "redirect-uri", num_args = 1.., value_name = "URI")]
    pub redirect_uris: Option<Vec<String>>,
    /// Post-logout redirect URIs, replacing the current ones.
    #[arg(long = "post-logout-redirect-uri", num_args = 1.., value_name = "URI")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Skip the consent screen for this client, or not.
    #[arg(long, value_name = "true|false")]
    pub trusted: Option<bool>,
    /// Require PKCE of this confidential client, or not (public clients always need it).
    #[arg(long, value_name = "true|false")]
    pub require_pkce: Option<bool>,
    /// A resource server that may introspect tokens issued to any client, or not.
    #[arg(long, value_name = "true|false")]
    pub may_introspect_any: Option<bool>,
    /// Its access tokens' lifetime in seconds, or `default` for the server's.
    #[arg(long, value_name = "SECONDS|default")]
    pub access_token_lifetime: Option<String>,
    /// Its refresh tokens' lifetime in seconds, or `default` for the server's.
    #[arg(long, value_name = "SECONDS|default")]
    pub refresh_token_lifetime: Option<String>,
    /// The application's home page (https); empty to remove it.
    #[arg(long, value_name = "URL")]
    pub homepage: Option<String>,
    /// When the secret expires: a date (00:00 UTC), an RFC 3339 time, or never.
    #[arg(long, value_name = "DATE|never")]
    pub secret_expires: Option<String>,
    /// The websites its client-credentials tokens may act on: IDs separated by commas,
    /// or all.
    #[arg(long, value_name = "IDS|all")]
    pub sites: Option<String>,
    /// The application's privacy policy (https); empty to remove it.
    #[arg(long, value_name = "URL")]
    pub privacy_url: Option<String>,
    /// The application's terms of service (https); empty to remove it.
    #[arg(long, value_name = "URL")]
    pub terms_url: Option<String>,
    /// Print the client as `client show --json` does afterwards.
    #[arg(long)]
    pub json: bool,
}

/// The command-line flag that sets a field of the client form.
fn flag_of(field: &str) -> &'static str {
    match field {
        "description" => "--description",
        "client_type" => "--type",
        "grant_types" => "--grant",
        "scopes" => "--scope",
        "redirect_uris" => "--redirect-uri",
        "post_logout_redirect_uris" => "--post-logout-redirect-uri",
        "access_token_lifetime" => "--access-token-lifetime",
        "refresh_token_lifetime" => "--refresh-token-lifetime",
        "homepage_url" => "--homepage",
        "icon_url" => "--icon",
        "secret_expires" => "--secret-expires",
        "site_ids" => "--sites",
        "privacy_url" => "--privacy-url",
        "terms_url" => "--terms-url",
        _ => "--name",
    }
}

pub(super) fn client_error_line(e: &ClientError) -> String {
    match e {
        // A refusal about the client itself names the argument, not a flag.
        ClientError::Invalid {
            field: "client_id",
            message,
        } => format!("CLIENT_ID: {message}"),
        ClientError::Invalid {
            field: "site_ids",
            message,
        } => format!("--sites: {message}"),
        ClientError::Invalid { field, message } => format!("--{field}: {message}"),
        other => other.to_string(),
    }
}

fn find_client(conn: &mut MysqlConnection, client_id: &str) -> Result<Client, CliError> {
    db::models::clients::find_by_client_id(conn, client_id)?
        .ok_or_else(|| ClientError::UnknownClient(client_id.to_string()).into())
}

pub(super) fn client(command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::Create(args) => create(*args)?,
        ClientCommand::Edit(args) => edit(*args)?,
        ClientCommand::List { json } => list(json)?,
        ClientCommand::Show { client_id, json } => {
            let mut conn = prepared_connection()?;
            let c = find_client(&mut conn, &client_id)?;
            if json {
                println!("{}", registrar::client_json(&c));
            } else {
                let v = registrar::client_json(&c);
                for (k, val) in v.as_object().into_iter().flatten() {
                    println!("{k:<14} {val}");
                }
            }
        }
        ClientCommand::Pause { client_id, json } => {
            let mut conn = prepared_connection()?;
            registrar::set_status(&mut conn, &client_id, ClientStatus::Paused, &cli_actor())?;
            let value = json!({ "client_id": client_id, "status": "paused" });
            report(json, format!("client {client_id} paused"), value);
        }
        ClientCommand::Resume { client_id, json } => {
            let mut conn = prepared_connection()?;
            registrar::set_status(&mut conn, &client_id, ClientStatus::Active, &cli_actor())?;
            let value = json!({ "client_id": client_id, "status": "active" });
            report(json, format!("client {client_id} resumed"), value);
        }
        ClientCommand::Delete { client_id, json } => {
            let mut conn = prepared_connection()?;
            registrar::delete(&mut conn, &client_id, &cli_actor())?;
            let value = json!({ "client_id": client_id, "deleted": true });
            report(json, format!("client {client_id} deleted"), value);
        }
        ClientCommand::Secret(command) => secret(command)?,
    }
    Ok(())
}

/// The flag of a rotation's field.
fn rotation_flag(field: &str) -> &'static str {
    if field == "grace" {
        "--grace"
    } else {
        "--expires"
    }
}

fn secret(command: SecretCommand) -> Result<(), CliError> {
    match command {
        SecretCommand::Rotate {
            client_id,
            grace,
            expires,
            revoke_tokens,
            json,
        } => {
            let request = RotationRequest::parse(&grace, expires.as_deref(), revoke_tokens)
                .map_err(|errors| form_error(errors, rotation_flag))?;
            let mut conn = prepared_connection()?;
            let rotated = registrar::rotate_secret(&mut conn, &client_id, &request, &cli_actor())?;
            let expires_at = find_client(&mut conn, &client_id)?.secret_expires_at;
            let until = rotated.previous_until.map(rfc3339);
            if json {
                println!(
                    "{}",
                    json!({
                        "client_id": client_id,
                        "client_secret": rotated.secret.expose(),
                        "previous_secret_valid_until": until,
                        "secret_expires_at": expires_at.map(rfc3339),
                        "grants_revoked": rotated.grants_revoked,
                    })
                );
            } else {
                println!("client_secret: {}", rotated.secret.expose());
                println!("(the secret is shown only this once; store it now)");
                match until {
                    Some(until) => println!("the previous secret works until {until}"),
                    None => println!("the previous secret no longer works"),
                }
            }
        }
        SecretCommand::EndPrevious { client_id, json } => {
            let mut conn = prepared_connection()?;
            let uses = registrar::end_previous_secret(&mut conn, &client_id, &cli_actor())?;
            if json {
                println!(
                    "{}",
                    json!({ "client_id": client_id, "previous_secret_uses": uses })
                );
            } else {
                println!(
                    "client {client_id}: the previous secret no longer works (used {uses} times since the rotation)"
                );
            }
        }
    }
    Ok(())
}

fn edit(args: EditArgs) -> Result<(), CliError> {
    let mut conn = prepared_connection()?;
    let before = find_client(&mut conn, &args.client_id)?;
    let settings = crate::oauth::settings::Settings::load(&mut conn)?;
    // The stored client as the console's form shows it, with the flags given typed over it.
    let mut input = ClientInput::from_row(&before);
    let set = |field: &mut String, value: Option<String>| {
        if let Some(value) = value {
            *field = value;
        }
    };
    set(&mut input.name, args.name);
    set(&mut input.description, args.description);
    set(
        &mut input.redirect_uris,
        args.redirect_uris.map(|u| u.join("\n")),
    );
    set(
        &mut input.post_logout_redirect_uris,
        args.post_logout_redirect_uris.map(|u| u.join("\n")),
    );
    set(&mut input.access_token_lifetime, args.access_token_lifetime);
    set(
        &mut input.refresh_token_lifetime,
        args.refresh_token_lifetime,
    );
    set(&mut input.homepage_url, args.homepage);
    set(&mut input.secret_expires, args.secret_expires);
    set(&mut input.site_ids, args.sites);
    set(&mut input.privacy_url, args.privacy_url);
    set(&mut input.terms_url, args.terms_url);
    input.grant_types = args.grants.unwrap_or(input.grant_types);
    input.scopes = args.scopes.unwrap_or(input.scopes);
    input.trusted = args.trusted.unwrap_or(input.trusted);
    input.require_pkce = args.require_pkce.unwrap_or(input.require_pkce);
    input.may_introspect_any = args.may_introspect_any.unwrap_or(input.may_introspect_any);
    let spec = input
        .parse(&settings)
        .map_err(|errors| form_error(errors, flag_of))?;
    let updated = registrar::update(&mut conn, &args.client_id, &spec, &cli_actor())?;
    if args.json {
        println!(
            "{}",
            registrar::client_json(&find_client(&mut conn, &args.client_id)?)
        );
    } else {
        println!(
            "client {} saved; {} authorization(s) beyond its new limits revoked",
            args.client_id, updated.grants_revoked
        );
    }
    Ok(())
}

fn create(args: CreateArgs) -> Result<(), CliError> {
    let CreateArgs {
        name,
        description,
        client_type,
        grants,
        scopes,
        redirect_uris,
        post_logout_redirect_uris,
        access_token_lifetime,
        refresh_token_lifetime,
        trusted,
        require_pkce,
        may_introspect_any,
        homepage,
        icon,
        secret_expires,
        sites,
        privacy_url,
        terms_url,
        owner,
        json,
    } = args;
    let mut conn = prepared_connection()?;
    // The same parser and rules as the console's form, so both refuse alike.
    let settings = crate::oauth::settings::Settings::load(&mut conn)?;
    let input = ClientInput {
        name,
        description,
        client_type,
        grant_types: grants,
        scopes,
        redirect_uris: redirect_uris.join("\n"),
        post_logout_redirect_uris: post_logout_redirect_uris.join("\n"),
        access_token_lifetime: access_token_lifetime.unwrap_or_default(),
        refresh_token_lifetime: refresh_token_lifetime.unwrap_or_default(),
        require_pkce,
        trusted,
        may_introspect_any,
        homepage_url: homepage.unwrap_or_default(),
        icon_url: icon.unwrap_or_default(),
        privacy_url: privacy_url.unwrap_or_default(),
        terms_url: terms_url.unwrap_or_default(),
        secret_expires: secret_expires.unwrap_or_default(),
        site_ids: sites.unwrap_or_default(),
        kept_secret_expiry: None,
        native_redirects: false,
    };
    let spec = input
        .parse(&settings)
        .map_err(|errors| form_error(errors, flag_of))?;
    let owner =
        registrar::owner(&mut conn, owner.as_deref())?.map_err(|message| CliError::Invalid {
            flag: "--owner",
            message,
        })?;
    let created = registrar::create(&mut conn, &spec, owner.id, &cli_actor())?;
    let secret = created.secret.as_ref().map(|s| s.expose().to_string());
    if json {
        println!(
            "{}",
            json!({ "client_id": created.client_id.as_str(), "client_secret": secret })
        );
    } else {
        println!("client_id:     {}", created.client_id);
        match secret {
            Some(secret) => println!(
                "client_secret: {secret}\n(the secret is shown only this once; store it now)"
            ),
            None => println!("(public client: no secret; it must use PKCE)"),
        }
    }
    Ok(())
}

fn list(json: bool) -> Result<(), CliError> {
    let mut conn = prepared_connection()?;
    let clients = db::models::clients::list(&mut conn, i64::MAX, 0)?;
    if json {
        println!(
            "{}",
            serde_json::Value::Array(clients.iter().map(registrar::client_json).collect())
        );
    } else {
        println!(
            "{:<32}  {:<7} {:<12} {:<24} NAME",
            "CLIENT ID", "STATUS", "TYPE", "GRANTS"
        );
        for c in clients {
            println!(
                "{:<32}  {:<7} {:<12} {:<24} {}",
                c.client_id,
                c.status.as_str(),
                c.client_type.as_str(),
                (c.grants.iter().map(|g| g.as_str()))
                    .collect::<Vec<_>>()
                    .join(","),
                c.name
            );
        }
    }
    Ok(())
}
