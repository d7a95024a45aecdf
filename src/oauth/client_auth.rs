//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients (RFC 6749 §2.3).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::sync::Arc;

use diesel::MysqlConnection;

use crate::audit;
use crate::auth::throttle::{self, Bucket, Verdict};
use crate::db::{Connect, models};
use crate::domain::Client;
use crate::domain::{ClientId, SecretCheck, secret_matches};
use crate::oauth::Protocol;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;

/// How the client presented itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    /// A public client: only its ID.
    IdOnly {
        client_id: String,
    },
}

const FAILED: &str = "Client authentication failed.";

fn failed() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, FAILED)
}

/// Reads credentials from the Authorization header and the body. Sending them both ways
/// at once is `invalid_request` (RFC 6749 §2.3).
pub fn credentials(
    authorization: Option<&str>,
    params: &Params,
) -> Result<Credentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(header) = authorization {
        let (client_id, secret) = parse_basic(header).ok_or_else(failed)?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "Client credentials were sent both in the Authorization header and in the body; use one method.",
            ));
        }
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the one in the Authorization header.",
            ));
        }
        return Ok(Credentials::Basic { client_id, secret });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(Credentials::Post {
            client_id: id.to_string(),
            secret: secret.to_string(),
        }),
        (Some(id), None) => Ok(Credentials::IdOnly {
            client_id: id.to_string(),
        }),
        (None, _) => Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "Client authentication is required: send client_id (and client_secret for confidential clients).",
        )),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, decoded as RFC 6749 §2.3.1 says.
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

fn form_decode(raw: &str) -> Option<String> {
    let plus_as_space = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Who is calling a client-authenticated endpoint: the Authorization header it sent and
/// the address it came from (for throttling failed attempts).
#[derive(Debug, Clone)]
pub struct Caller {
    pub authorization: Option<String>,
    pub ip: String,
}

impl Credentials {
    pub fn client_id(&self) -> &str {
        match self {
            Credentials::Basic { client_id, .. }
            | Credentials::Post { client_id, .. }
            | Credentials::IdOnly { client_id } => client_id,
        }
    }
}

/// Why authentication failed: wrong credentials count towards the throttle; a paused
/// client or a missing secret does not.
enum Refusal {
    WrongCredentials,
    Other(OAuthError),
}

/// The authenticated client. An unknown client and a wrong secret get the same answer
/// after the same work (one HMAC and one constant-time comparison).
fn authenticate(
    db: &mut impl Connect,
    proto: &Protocol,
    secret_key: &[u8],
    credentials: &Credentials,
) -> Result<Result<Authenticated, Refusal>, OAuthError> {
    let (client_id, secret) = match credentials {
        Credentials::Basic { client_id, secret } | Credentials::Post { client_id, secret } => {
            (client_id.as_str(), Some(secret.as_str()))
        }
        Credentials::IdOnly { client_id } => (client_id.as_str(), None),
    };
    // Only a well-formed ID reaches the database (an odd byte there is a collation error).
    let client = match ClientId::parse(client_id) {
        Ok(id) => proto.live.client(db, id.as_str())?,
        Err(_) => None,
    };
    let Some(client) = client else {
        if let Some(secret) = secret {
            // Same work as a real comparison, so timing does not tell unknown from wrong.
            let _ = secret_matches(secret_key, secret, &[0u8; 32]);
        }
        return Ok(Err(Refusal::WrongCredentials));
    };
    let now = models::now();
    let matched = match (client.is_confidential(), secret) {
        (true, Some(secret)) => match client.check_secret(secret_key, secret, now) {
            SecretCheck::Wrong => return Ok(Err(Refusal::WrongCredentials)),
            SecretCheck::Expired => {
                return Ok(Err(Refusal::Other(OAuthError::new(
                    ErrorCode::InvalidClient,
                    "This client's secret has expired: ask an administrator to rotate it.",
                ))));
            }
            check @ (SecretCheck::Current | SecretCheck::Previous) => {
                let hash = client.matched_hash(&check, now).map(<[u8]>::to_vec);
                // Counted once per request, though the work may run twice (memory first).
                if check == SecretCheck::Previous
                    && let Some(hash) = &hash
                    && db.first_time("previous_secret_use")
                {
                    proto.live.count_previous_secret_use(client.id, hash);
                }
                hash
            }
        },
        (true, None) => {
            return Ok(Err(Refusal::Other(OAuthError::new(
                ErrorCode::InvalidClient,
                "This client is confidential: authenticate with client_secret_basic or client_secret_post.",
            ))));
        }
        (false, None) => None,
        (false, Some(_)) => return Ok(Err(Refusal::WrongCredentials)),
    };
    if !client.is_active() {
        return Ok(Err(Refusal::Other(OAuthError::new(
            ErrorCode::InvalidClient,
            "This client is paused by an administrator; it can get no tokens until it is resumed.",
        ))));
    }
    Ok(Ok(Authenticated {
        client,
        secret_hash: matched,
    }))
}

/// A client that proved who it is.
pub struct Authenticated {
    pub client: Arc<Client>,
    /// The stored hash of the secret it presented: the current one or, in a rotation's
    /// grace period, the previous one. `None` for a public client.
    pub secret_hash: Option<Vec<u8>>,
}

/// Reads and checks the credentials of a request to the token, revocation or
/// introspection endpoint; returns the client and the secret it presented. Wrong
/// credentials are throttled per client and address (growing delays) and per address,
/// then answered 429 with `Retry-After`, and audited as counted rows. Verifying comes
/// first (one HMAC: a 256-bit secret cannot be guessed, so nothing is gained by guessing
/// fast), and only a failure is charged, atomically: a burst of parallel wrong secrets
/// gets at most the free attempts answered `invalid_client`, the right secret is never
/// held up by someone else's failures, and a success costs no database write or read.
pub fn authenticate_request(
    db: &mut impl Connect,
    proto: &Protocol,
    caller: &Caller,
    params: &Params,
) -> Result<Authenticated, OAuthError> {
    let credentials = credentials(caller.authorization.as_deref(), params)?;
    let id = credentials.client_id().to_string();
    let now = models::now();
    let throttled = |conn: &mut MysqlConnection, verdict: Verdict| {
        // One counted row per address and quarter hour, whatever client IDs it tries.
        audit::record_counted(
            conn,
            audit::Event::new("anonymous", audit::CLIENT_AUTH_THROTTLED)
                .details(serde_json::json!({ "first_client_id": id }))
                .ip(&caller.ip),
        )?;
        Ok::<_, OAuthError>(OAuthError::Throttled {
            retry_after: verdict.retry_after_secs(now),
        })
    };
    let secret_key = proto.secret_key(db)?;
    match authenticate(db, proto, secret_key, &credentials)? {
        Ok(authenticated) => Ok(authenticated),
        Err(Refusal::Other(e)) => Err(e),
        Err(Refusal::WrongCredentials) => {
            let conn = db.connection()?;
            let buckets = [
                Bucket::client_auth(&id, &caller.ip),
                Bucket::client_auth_address(&caller.ip),
            ];
            let verdict = throttle::take(conn, &buckets, now)?;
            if let Verdict::Refused { .. } = verdict {
                return Err(throttled(conn, verdict)?);
            }
            audit::record_counted(
                conn,
                audit::Event::new(&id, audit::CLIENT_AUTH_FAILED)
                    .target("client", &id)
                    .ip(&caller.ip),
            )?;
            crate::telemetry::metrics::client_auth_failed();
            Err(failed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20id:se%3Acr%25et+x"));
        assert_eq!(
            parse_basic(&header),
            Some(("my id".to_string(), "se:cr%et x".to_string()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn both_methods_at_once_is_invalid_request() {
        let params = Params::parse(b"client_id=a&client_secret=b");
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        let err = credentials(Some(&header), &params).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidRequest));
        assert!(matches!(
            credentials(None, &Params::parse(b"client_id=a")),
            Ok(Credentials::IdOnly { .. })
        ));
    }
}
