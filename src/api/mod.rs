//! The protected analytics API: a small Matomo-compatible surface whose purpose is to be
//! the resource that access tokens unlock. Free of actix: `routes::api` turns requests into
//! calls here and [`ApiError`] into HTTP.

pub mod caller;
pub mod methods;
pub mod oauth2;
pub mod userinfo;

use crate::db::DbError;

pub use caller::Caller;

/// Why an API call was refused; each maps to one HTTP answer in `routes::api`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: Bearer` header (RFC 6750 §3.1: no error code).
    #[error("This API needs an access token: send it as Authorization: Bearer <token>.")]
    NoToken,
    /// RFC 9700 §2.3 / RFC 6750 §5.3: tokens in URLs leak into logs and histories.
    #[error(
        "Access tokens are not accepted in the query string or form; send the Authorization: Bearer header."
    )]
    TokenInRequest,
    /// RFC 6750 §3.1: a malformed Authorization header is `invalid_request` (400).
    #[error("The Authorization header is malformed: use Bearer <token>.")]
    MalformedAuthorization,
    #[error("Use GET or POST.")]
    MethodNotAllowed,
    #[error("{0}")]
    InvalidToken(String),
    /// The token's scope, or its user's own access, is not enough for this call.
    #[error("{message}")]
    /// `needed`: the scope to ask for, named in the challenge.
    InsufficientScope {
        needed: &'static str,
        message: String,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_parameter(name: &str, why: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(format!("Parameter {name}: {why}"))
    }
}

impl From<crate::oauth::error::OAuthError> for ApiError {
    fn from(e: crate::oauth::error::OAuthError) -> Self {
        use crate::oauth::error::OAuthError;
        match e {
            OAuthError::Db(e) => ApiError::Db(e),
            OAuthError::Protocol { description, .. } => ApiError::InvalidToken(description),
            OAuthError::Internal(cause) => ApiError::Internal(cause),
            OAuthError::Throttled { .. } => ApiError::InvalidToken("Too many attempts.".into()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::Db(e.into())
    }
}

impl crate::db::Retryable for ApiError {
    fn retryable(&self) -> bool {
        matches!(self, ApiError::Db(e) if e.is_retryable())
    }
}
