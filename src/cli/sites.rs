//! `consentry site` and `consentry access`: websites and who may see them.

use super::*;

#[derive(Subcommand, Debug)]
pub enum SiteCommand {
    /// Add a website; prints its ID.
    Create {
        /// The website's name.
        #[arg(long)]
        name: String,
        /// Its main URL (http or https).
        #[arg(long)]
        url: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// List websites.
    List {
        /// Print JSON (times in RFC 3339, UTC) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccessCommand {
    /// Give a user a level on a website (replacing the one they had).
    Grant {
        /// The user's login.
        #[arg(long)]
        login: String,
        /// The website's ID (as `site list` shows it).
        #[arg(long)]
        site: String,
        /// What the user may do on that website.
        #[arg(long, value_name = "view|write|admin")]
        level: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user's access to a website.
    Remove {
        /// The user's login.
        #[arg(long)]
        login: String,
        /// The website's ID.
        #[arg(long)]
        site: String,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn site(command: SiteCommand) -> Result<(), CliError> {
    match command {
        SiteCommand::Create { name, url, json } => {
            let name = SiteName::parse(&name).map_err(invalid("--name"))?;
            let url = SiteUrl::parse(&url).map_err(invalid("--url"))?;
            let mut conn = prepared_connection()?;
            let id = crate::sites::create(&mut conn, &name, &url, &cli_actor())?;
            report(
                json,
                id,
                json!({ "idsite": id, "name": name.as_str(), "main_url": url.as_str() }),
            );
        }
        SiteCommand::List { json } => {
            let mut conn = prepared_connection()?;
            let sites = db::models::sites::list(&mut conn)?;
            if json {
                let list: Vec<_> = sites
                    .iter()
                    .map(|s| json!({ "idsite": s.id, "name": s.name, "main_url": s.main_url }))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for s in sites {
                    println!("{:<6} {:<40} {}", s.id, s.name, s.main_url);
                }
            }
        }
    }
    Ok(())
}

pub(super) fn access(command: AccessCommand) -> Result<(), CliError> {
    let (login, site, level, json) = match command {
        AccessCommand::Grant {
            login,
            site,
            level,
            json,
        } => {
            let level: AccessLevel = level.parse().map_err(invalid("--level"))?;
            (login, site, Some(level), json)
        }
        AccessCommand::Remove { login, site, json } => (login, site, None, json),
    };
    let site = parse_site_id(&site).map_err(invalid("--site"))?;
    let mut conn = prepared_connection()?;
    crate::sites::set_access(&mut conn, &login, site, level, &cli_actor())?;
    let value = json!({ "login": login, "idsite": site, "access": level.map(|l| l.as_str()) });
    match level {
        Some(level) => report(
            json,
            format!("{login} now has {level} access to website {site}"),
            value,
        ),
        None => report(
            json,
            format!("{login} no longer has access to website {site}"),
            value,
        ),
    }
    Ok(())
}
