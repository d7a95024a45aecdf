//! The protocol layer's one error type. `web::routes::oauth::error_response` maps it to HTTP.

use std::fmt;

use crate::db::DbError;

/// RFC 6749 §4.1.2.1 and §5.2 error codes, plus RFC 7009's `unsupported_token_type` and
/// RFC 8707's `invalid_target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    /// RFC 8707 §2: the `resource` is not one this server issues tokens for.
    InvalidTarget,
    /// `prompt=none` without a signed-in user (OpenID Connect Core §3.1.2.6).
    LoginRequired,
    /// `prompt=none` when the user would have to be asked (same section).
    ConsentRequired,
    /// `prompt=none` when the user would have to do something else first (same section).
    InteractionRequired,
    /// A `request` object (OpenID Connect Core §6), which this server does not take.
    RequestNotSupported,
    /// A `request_uri` (same section).
    RequestUriNotSupported,
    /// RFC 8628 §3.5: the user has not answered yet; poll again after the interval.
    AuthorizationPending,
    /// RFC 8628 §3.5: polled faster than the interval, which grows by five seconds.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// An error the client is told about, with a description for its developer.
    #[error("{code}: {description}")]
    Protocol {
        code: ErrorCode,
        description: String,
    },
    /// Too many attempts: 429 `too_many_requests` with `Retry-After`.
    #[error("too many attempts; retry after {retry_after} s")]
    Throttled { retry_after: i64 },
    #[error(transparent)]
    Db(DbError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError::Protocol {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            OAuthError::Protocol { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<DbError> for OAuthError {
    /// A client, user or grant deleted while the request used it ends as the protocol
    /// error a client expects (RFC 6749 §5.2), not as a server error.
    fn from(e: DbError) -> Self {
        match &e {
            DbError::Vanished(_) if e.vanished_client() => {
                OAuthError::new(ErrorCode::InvalidClient, "This client no longer exists.")
            }
            DbError::Vanished(_) => OAuthError::invalid_grant(
                "The grant, code or user this request refers to no longer exists.",
            ),
            _ => OAuthError::Db(e),
        }
    }
}

impl From<diesel::result::Error> for OAuthError {
    fn from(e: diesel::result::Error) -> Self {
        OAuthError::Db(e.into())
    }
}

impl crate::db::Retryable for OAuthError {
    fn retryable(&self) -> bool {
        matches!(self, OAuthError::Db(e) if e.is_retryable())
    }
}
