//! `consentry user`: console users.

use super::*;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input or --password-file.
    Create {
        #[arg(long)]
        login: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["superuser", "support", "user"])]
        role: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Replace a user's password (read from standard input or --password-file).
    SetPassword {
        #[arg(long)]
        login: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Keep the applications' tokens the user authorized (by default they are revoked,
        /// as a reset usually means the old password leaked).
        #[arg(long)]
        keep_grants: bool,
    },
}

pub(super) fn user(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Create {
            login,
            email,
            role,
            password_file,
        } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            let email = Email::parse(&email).map_err(invalid("--email"))?;
            let role: Role = role.parse().map_err(invalid("--role"))?;
            let password = read_password(password_file.as_ref())?;
            let mut conn = prepared_connection()?;
            let hash = crate::auth::password::hash(&password);
            accounts::create(&mut conn, &login, &email, role, &hash, &cli_actor())?;
            println!("created {role} '{login}'");
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
                            "created_at": u.created_at.and_utc().to_rfc3339(),
                            "last_login_at": u.last_login_at.map(|t| t.and_utc().to_rfc3339()),
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
                    println!("{:<24} {:<10} {:<32} {last}", u.login, u.role, u.email);
                }
            }
        }
        UserCommand::SetPassword {
            login,
            password_file,
            keep_grants,
        } => {
            let login = Login::parse(&login).map_err(invalid("--login"))?;
            let password = read_password(password_file.as_ref())?;
            let mut conn = prepared_connection()?;
            let hash = crate::auth::password::hash(&password);
            accounts::set_password(&mut conn, &login, &hash, &cli_actor(), !keep_grants)?;
            if keep_grants {
                println!("password of '{login}' changed; their console sessions ended");
            } else {
                println!(
                    "password of '{login}' changed; their console sessions ended and the applications they authorized lost access"
                );
            }
        }
    }
    Ok(())
}
