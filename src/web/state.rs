//! The state every handler shares: the pool, the configuration, the protocol's keys and
//! limits, and the password-hashing pool.

use std::sync::Arc;

use crate::auth::hashing::HashPool;
use crate::auth::password::{self, Hashed};
use crate::config::Config;
use crate::db::DbPool;
use crate::domain::Password;
use crate::oauth::Protocol;
use crate::web::error::AppError;

/// Shared, read-only state handed to every handler.
pub struct AppState {
    pub pool: DbPool,
    pub config: Arc<Config>,
    pub protocol: Arc<Protocol>,
    /// Bounded password hashing (sign-in, confirmations, new passwords).
    pub hasher: Arc<HashPool>,
}

impl AppState {
    /// Hashes a new password in the bounded pool (503 when every slot stays busy).
    pub async fn hash_password(&self, password: Password) -> Result<Hashed, AppError> {
        self.hasher
            .run(move || password::hash(&password))
            .await
            .map_err(|_| AppError::Busy)
    }
}
