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
                            "created_at": rfc3339(u.created_at),
                            "last_login_at": u.last_login_at.map(rfc3339),
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
            initial_password::forget(&Config::from_env()?.data_dir, &login);
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
