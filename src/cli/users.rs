//! `consentry user`: console users.

use super::*;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input or --password-file.
    Create {
        /// The sign-in name: letters, digits and . _ @ -, at most 100 characters.
        #[arg(long)]
        login: String,
        /// The user's e-mail address.
        #[arg(long)]
        email: String,
        /// What the user may do in the console.
        #[arg(long, value_parser = ["superuser", "support", "user"])]
        role: String,
        /// Read the password from the first line of this file instead of standard input.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        /// Print JSON (times in RFC 3339, UTC) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's password (read from standard input or --password-file).
    SetPassword {
        /// The user whose password is replaced.
        #[arg(long)]
        login: String,
        /// Read the password from the first line of this file instead of standard input.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Keep the applications' tokens the user authorized (by default they are revoked,
        /// as a reset usually means the old password leaked).
        #[arg(long)]
        keep_grants: bool,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Deactivate a user: no sign-in, sessions ended, every grant and token revoked.
    Deactivate {
        /// The user to deactivate.
        #[arg(long)]
        login: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user's second factor (a lost authenticator): they sign in with their
    /// password and set it up again.
    #[command(name = "reset-2fa")]
    ResetTwoFactor {
        /// The user whose authenticator and recovery codes are removed.
        #[arg(long)]
        login: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Let a deactivated user sign in again.
    Activate {
        /// The user to reactivate.
        #[arg(long)]
        login: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user with their grants, tokens, consents and site access.
    Delete {
        /// The user to delete.
        #[arg(long)]
        login: String,
        /// Give the clients the user owns to this other active superuser.
        #[arg(long, value_name = "LOGIN", conflicts_with = "delete_clients")]
        reassign_clients_to: Option<String>,
        /// Delete the clients the user owns, with their grants and tokens.
        #[arg(long)]
        delete_clients: bool,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn user(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Create {
            login,
            email,
            role,
            password_file,
            json,
        } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            let email = Email::parse(&email).map_err(invalid("--email"))?;
            let role: Role = role.parse().map_err(invalid("--role"))?;
            let password = read_password(password_file.as_ref())?;
            let mut conn = prepared_connection()?;
            let hash = crate::auth::password::hash(&password);
            accounts::create(&mut conn, &login, &email, role, &hash, &cli_actor())?;
            let value = json!({ "login": login.as_str(), "role": role.as_str(), "created": true });
            report(json, format!("created {role} '{login}'"), value);
        }
        UserCommand::List { json } => {
            let mut conn = prepared_connection()?;
            let users = db::models::users::list(&mut conn)?;
            if json {
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| {
                        json!({
                            "login": u.login,
                            "email": u.email,
                            "role": u.role,
                            "created_at": rfc3339(u.created_at),
                            "last_login_at": u.last_login_at.map(rfc3339),
                            "deactivated_at": u.deactivated_at.map(rfc3339),
                            "two_factor": u.has_second_factor(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!(
                    "{:<24} {:<10} {:<32} LAST SIGN-IN (UTC)",
                    "LOGIN", "ROLE", "EMAIL"
                );
                for u in users {
                    let last = u
                        .last_login_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into());
                    let state = if u.is_active() { "" } else { "  (deactivated)" };
                    println!(
                        "{:<24} {:<10} {:<32} {last}{state}",
                        u.login, u.role, u.email
                    );
                }
            }
        }
        UserCommand::SetPassword {
            login,
            password_file,
            keep_grants,
            json,
        } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            let password = read_password(password_file.as_ref())?;
            let mut conn = prepared_connection()?;
            let hash = crate::auth::password::hash(&password);
            accounts::set_password(&mut conn, &login, &hash, &cli_actor(), !keep_grants)?;
            initial_password::forget(&crate::config::data_dir_from_env(), &login);
            let value = json!({ "login": login.as_str(), "password_changed": true, "grants_revoked": !keep_grants });
            if keep_grants {
                report(
                    json,
                    format!("password of '{login}' changed; their console sessions ended"),
                    value,
                );
            } else {
                report(
                    json,
                    format!(
                        "password of '{login}' changed; their console sessions ended and the applications they authorized lost access"
                    ),
                    value,
                );
            }
        }
        UserCommand::Deactivate { login, json } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            accounts::deactivate(&mut prepared_connection()?, &login, &cli_actor())?;
            report(
                json,
                format!(
                    "'{login}' is deactivated: their sessions ended and every application they authorized lost access"
                ),
                json!({ "login": login.as_str(), "active": false }),
            );
        }
        UserCommand::ResetTwoFactor { login, json } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            let mut conn = prepared_connection()?;
            let user = crate::db::models::users::find_by_login(&mut conn, login.as_str())?
                .ok_or_else(|| accounts::AccountError::UnknownLogin(login.to_string()))?;
            let had = user.has_second_factor();
            match crate::auth::second_factor::reset(&mut conn, &user, &cli_actor()) {
                Ok(()) => {}
                Err(crate::auth::second_factor::SecondFactorError::Db(e)) => return Err(e.into()),
                Err(e) => return Err(CliError::Io(e.to_string())),
            }
            let value = json!({ "login": login.as_str(), "second_factor_removed": had });
            if had {
                report(
                    json,
                    format!(
                        "'{login}' signs in with their password alone until they set up two-factor authentication again"
                    ),
                    value,
                );
            } else {
                report(
                    json,
                    format!("'{login}' had no second factor; nothing to reset"),
                    value,
                );
            }
        }
        UserCommand::Activate { login, json } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            accounts::activate(&mut prepared_connection()?, &login, &cli_actor())?;
            let value = json!({ "login": login.as_str(), "active": true });
            report(json, format!("'{login}' may sign in again"), value);
        }
        UserCommand::Delete {
            login,
            reassign_clients_to,
            delete_clients,
            json,
        } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            let clients = match reassign_clients_to {
                Some(heir) => accounts::OwnedClients::ReassignTo(
                    Login::parse(&heir).map_err(invalid("--reassign-clients-to"))?,
                ),
                None if delete_clients => accounts::OwnedClients::Delete,
                None => accounts::OwnedClients::None,
            };
            let done =
                accounts::delete(&mut prepared_connection()?, &login, &clients, &cli_actor())?;
            report(
                json,
                format!(
                    "deleted '{login}': {} grant(s) revoked, {} client(s) reassigned, {} client(s) deleted",
                    done.grants_revoked, done.clients_reassigned, done.clients_deleted
                ),
                json!({
                    "login": login.as_str(),
                    "deleted": true,
                    "grants_revoked": done.grants_revoked,
                    "clients_reassigned": done.clients_reassigned,
                    "clients_deleted": done.clients_deleted,
                }),
            );
        }
    }
    Ok(())
}
