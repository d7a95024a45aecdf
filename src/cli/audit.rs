//! `consentry audit export`: the audit log, filtered as on its page, as CSV or JSON.

use super::*;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Print the matching events, newest first (at most 100,000: narrow the dates for more).
    Export {
        /// From this day on (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<String>,
        /// Up to and including this day (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<String>,
        /// Only events about this client (its client ID).
        #[arg(long, value_name = "CLIENT_ID")]
        client: Option<String>,
        /// Only events this login caused or that concern them.
        #[arg(long, value_name = "LOGIN")]
        user: Option<String>,
        /// Only this action (such as client.edited).
        #[arg(long)]
        action: Option<String>,
        /// csv (the console's export) or json.
        #[arg(long, default_value = "csv", value_name = "csv|json")]
        format: String,
        /// The same as --format json, as every command that prints has it.
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
}

pub(super) fn audit(command: AuditCommand) -> Result<(), CliError> {
    let AuditCommand::Export {
        since,
        until,
        client,
        user,
        action,
        format,
        json,
    } = command;
    let json = json
        || match format.as_str() {
            "csv" => false,
            "json" => true,
            other => {
                return Err(CliError::Invalid {
                    flag: "--format",
                    message: InvalidInput::new(format!(
                        "'{other}' is not a format: use csv or json."
                    )),
                });
            }
        };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let (since, until, client, user, action) = (
        text(&since),
        text(&until),
        text(&client),
        text(&user),
        text(&action),
    );
    let filter = crate::audit::FilterInput {
        action: &action,
        client: &client,
        user: &user,
        from: &since,
        to: &until,
    }
    .filter()
    .map_err(|errors| form_error(errors, flag_of))?;
    let mut conn = prepared_connection()?;
    let rows = crate::audit::export(&mut conn, &filter)?.map_err(|too_many| CliError::Invalid {
        flag: "--since",
        message: InvalidInput::new(too_many),
    })?;
    if json {
        println!("{}", crate::audit::to_json(&rows));
    } else {
        let csv = crate::audit::to_csv(&rows).map_err(|e| CliError::Io(e.to_string()))?;
        use std::io::Write;
        std::io::stdout()
            .write_all(&csv)
            .map_err(|e| CliError::Io(e.to_string()))?;
    }
    Ok(())
}

/// The flag that sets a field of the audit log's filter.
fn flag_of(field: &str) -> &'static str {
    match field {
        "from" => "--since",
        "to" => "--until",
        _ => "--action",
    }
}
