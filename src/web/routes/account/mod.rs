//! Personal pages every signed-in user has.

pub mod authorized_apps;
pub mod security;
pub mod two_factor;
