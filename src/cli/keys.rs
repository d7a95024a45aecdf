//! `consentry keys`: the keys that sign access tokens.

use super::*;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new signing key: published at once, signing an hour later (when the old one
    /// retires, staying published until its tokens have expired).
    Rotate {
        /// Sign with the new key at once (a leaked key): verifiers that cached the JWKS
        /// fetch it again when they meet the new kid.
        #[arg(long)]
        activate_now: bool,
        /// Print the outcome as one JSON object instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// List the published keys.
    List {
        /// Print JSON (times in RFC 3339, UTC) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn keys(command: KeysCommand) -> Result<(), CliError> {
    let mut conn = prepared_connection()?;
    match command {
        KeysCommand::Rotate { activate_now, json } => {
            let now = db::models::now();
            let from = if activate_now {
                now
            } else {
                now + crate::oauth::keys::ACTIVATION_DELAY
            };
            let kid =
                crate::oauth::keys::rotate(&mut conn, from, &cli_actor()).map_err(oauth_error)?;
            if json {
                println!(
                    "{}",
                    json!({ "kid": kid, "signs_from": rfc3339(from), "activated_now": activate_now })
                );
            } else if activate_now {
                println!(
                    "new signing key {kid} signs from now; the previous key stays published for a day so its tokens keep verifying"
                );
            } else {
                println!(
                    "new signing key {kid} is published now and signs from {} UTC; the previous key signs until then and stays published for a day after",
                    from.format("%Y-%m-%d %H:%M:%S")
                );
            }
        }
        KeysCommand::List { json } => {
            let now = db::models::now();
            let rows = db::models::signing_keys::published(&mut conn, now)?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|r| json!({"kid": r.kid, "created_at": rfc3339(r.created_at), "signing": r.signs_at(now), "signs_from": r.active_from.map(rfc3339), "publish_until": r.publish_until.map(rfc3339)}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for r in rows {
                    let role = if r.signs_at(now) {
                        "signing"
                    } else if r.active_from.is_some_and(|a| a > now) {
                        "next"
                    } else {
                        "retired"
                    };
                    println!(
                        "{}  {}  created {}",
                        r.kid,
                        role,
                        r.created_at.format("%Y-%m-%d %H:%M:%S")
                    );
                }
            }
        }
    }
    Ok(())
}
