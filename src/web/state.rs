//! The state every handler shares: the pool, the configuration, the protocol's keys and
//! limits, and the password-hashing pool.

use std::sync::Arc;

use crate::auth::hashing::HashPool;
use crate::config::Config;
use crate::db::DbPool;
use crate::oauth::Protocol;

/// Shared, read-only state handed to every handler.
pub struct AppState {
    pub pool: DbPool,
    pub config: Arc<Config>,
    pub protocol: Arc<Protocol>,
    /// Bounded password hashing (sign-in, confirmations, new passwords).
    pub hasher: Arc<HashPool>,
}
