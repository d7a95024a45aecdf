//! OAuth 2.0 protocol logic, free of actix where possible. So far: the client registrar
//! and the settings every protocol rule reads.

pub mod clients;
pub mod settings;
