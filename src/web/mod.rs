//! Everything that knows actix-web or askama: the application state, the app wiring and
//! route table, the extractors (session, CSRF, password confirmation), the handlers under
//! `routes/`, and the one mapping of errors to HTTP. Nothing outside this module (and
//! `main.rs`) imports actix-web or askama.

pub mod app;
pub mod csrf;
pub mod error;
pub mod observe;
pub mod reauth;
pub mod routes;
pub mod session;
pub mod state;
