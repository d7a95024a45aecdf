//! `consentry settings`: the General settings (OAuth 2.0), as the console's form has them.

use super::*;
use crate::domain::SigningAlg;
use crate::oauth::settings::Settings;

#[derive(Subcommand, Debug)]
pub enum SettingsCommand {
    /// Print every setting.
    Show {
        /// Print JSON (times in RFC 3339, UTC) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change settings; the others keep their values. Recorded in the audit log.
    Set {
        /// RS256 (default), ES256 or EdDSA. Changing it starts a key of the new type at
        /// once; tokens signed with the old key stay valid until they expire.
        #[arg(long, value_name = "RS256|ES256|EdDSA")]
        signing_alg: Option<String>,
    },
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
        SettingsCommand::Set { signing_alg } => {
            let mut changed = current.clone();
            if let Some(raw) = signing_alg {
                changed.signing_alg = SigningAlg::parse(&raw).map_err(invalid("--signing-alg"))?;
            }
            if changed.save(&mut conn, &cli_actor())? {
                println!("settings saved");
            } else {
                println!("nothing changed: the settings already had these values");
            }
        }
    }
    Ok(())
}
