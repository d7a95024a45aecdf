//! `/admin/oauth2/clients…`: Administration > Platform > OAuth 2.0. Superusers manage clients;
//! support staff see the list and each client's detail page without any control.

pub mod delete;
pub mod detail;
pub mod edit;
pub mod icon;
pub mod list;

use crate::db::{self, models};
use crate::domain::{Client, ClientId, GrantType, RedirectUri, rfc3339};
use crate::web::error::AppError;
use crate::web::state::AppState;

/// Where the list lives; the other pages hang below it.
pub const LIST_PATH: &str = "/admin/oauth2/clients";

pub fn detail_path(client_id: &str) -> String {
    format!("{LIST_PATH}/{client_id}")
}

/// The client named in the URL, or 404 (a malformed ID never reaches the database).
pub async fn load(state: &AppState, raw: &str) -> Result<Client, AppError> {
    let id = ClientId::parse(raw).map_err(|_| AppError::NotFound)?;
    db::run(&state.pool, move |conn| {
        models::clients::find_by_client_id(conn, id.as_str())
    })
    .await?
    .ok_or(AppError::NotFound)
}

/// A client as the console shows it.
pub struct ClientView {
    pub row: Client,
}

impl ClientView {
    pub fn status_label(&self) -> &'static str {
        if self.row.is_active() {
            "Active"
        } else {
            "Paused"
        }
    }

    pub fn type_label(&self) -> &'static str {
        if self.row.is_confidential() {
            "Confidential"
        } else {
            "Public"
        }
    }

    pub fn grant_labels(&self) -> Vec<&'static str> {
        GrantType::ALL
            .into_iter()
            .filter(|g| self.row.allows_grant(*g))
            .map(GrantType::label)
            .collect()
    }

    pub fn scopes(&self) -> Vec<&str> {
        self.row.scopes.iter().map(|s| s.as_str()).collect()
    }

    pub fn redirect_uris(&self) -> Vec<&str> {
        self.row
            .redirect_uris
            .iter()
            .map(RedirectUri::as_str)
            .collect()
    }

    pub fn post_logout_redirect_uris(&self) -> Vec<&str> {
        (self.row.post_logout_redirect_uris.iter())
            .map(RedirectUri::as_str)
            .collect()
    }

    /// The client ID as the list shows it: its first eight characters (the whole one is
    /// copied by the button beside it and shown on the client's page).
    pub fn short_id(&self) -> String {
        format!(
            "{}…",
            &self.row.client_id[..8.min(self.row.client_id.len())]
        )
    }

    /// A lifetime of its own, with its meaning ("3600 seconds = 1 hour").
    pub fn lifetime(&self, seconds: &i64) -> String {
        format!(
            "{seconds} seconds = {}",
            crate::domain::duration_words(*seconds)
        )
    }

    /// When it was created, machine-readable (for `<time datetime>`).
    pub fn created_at(&self) -> String {
        rfc3339(self.row.created_at)
    }

    /// When it was last used, machine-readable.
    pub fn last_used_at(&self) -> Option<String> {
        self.row.last_used_at.map(rfc3339)
    }

    pub fn created(&self) -> String {
        self.row.created_at.format("%Y-%m-%d %H:%M").to_string()
    }

    pub fn last_used(&self) -> String {
        self.row.last_used_at.map_or_else(
            || "Never".into(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        )
    }
    /// What makes the icon's address change when a new one is uploaded (`None`: no icon).
    pub fn icon_version(&self) -> Option<i64> {
        self.row.icon_updated_at.map(|t| t.and_utc().timestamp())
    }

    /// The previous secret while its grace period lasts.
    pub fn live_previous(&self) -> Option<PreviousView> {
        let previous = self.row.live_previous_secret(models::now())?;
        Some(PreviousView {
            until: previous.until.format("%Y-%m-%d %H:%M").to_string(),
            until_rfc3339: rfc3339(previous.until),
            uses: previous.uses,
        })
    }

    /// The secret's expiry as shown, with its machine-readable time.
    pub fn secret_expiry(&self) -> Option<(String, String)> {
        let at = self.row.secret_expires_at?;
        Some((at.format("%Y-%m-%d %H:%M").to_string(), rfc3339(at)))
    }

    /// When the secret was last rotated, shown and machine-readable.
    pub fn rotated(&self) -> Option<(String, String)> {
        let at = self.row.secret_rotated_at?;
        Some((at.format("%Y-%m-%d %H:%M").to_string(), rfc3339(at)))
    }

    /// The list's warning for a secret that expired or expires within 14 days.
    pub fn secret_warning(&self) -> Option<String> {
        let now = models::now();
        if !self.row.is_confidential() || !self.row.secret_expires_soon(now) {
            return None;
        }
        let at = self.row.secret_expires_at?;
        if at <= now {
            return Some("Secret expired".into());
        }
        Some(match (at - now).num_days() {
            0 => "Secret expires today".into(),
            1 => "Secret expires in 1 day".into(),
            n => format!("Secret expires in {n} days"),
        })
    }
}

/// A previous secret in its grace period, as the pages show it.
pub struct PreviousView {
    pub until: String,
    pub until_rfc3339: String,
    pub uses: i64,
}
