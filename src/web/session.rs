//! Console sessions in a signed and encrypted cookie (actix-session). The cookie holds the
//! user id, a random session id, the CSRF token and two timestamps; idle and absolute expiry
//! are checked here on every request, and signed-out session ids are refused for good.

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;

use crate::db::{self, models};
use crate::domain::Role;
use crate::oauth::oidc::{AMR_PASSWORD, SignIn};
use crate::web::error::AppError;
use crate::web::state::AppState;

const USER_ID: &str = "uid";
const SESSION_ID: &str = "sid";
pub(crate) const CSRF: &str = "csrf";
const ISSUED_AT: &str = "iat";
const LAST_SEEN: &str = "seen";
/// The user's session epoch at sign-in; a password, role or account change raises it.
const EPOCH: &str = "ep";
/// How the user signed in (RFC 8176 values): `pwd`, or `pwd otp` with a second factor.
const AMR: &str = "amr";
/// A sign-in waiting for its second factor: `user id:epoch:started at`.
const PENDING: &str = "p2f";
/// Where a sign-in goes once complete.
const PENDING_NEXT: &str = "p2f_next";
/// How long the second step of a sign-in may take.
const PENDING_SECS: i64 = 300;
/// When an application asked this browser to sign in again (`prompt=login`, `max_age`):
/// kept in the encrypted cookie, across the sign-in, until the request comes back.
const REAUTH: &str = "reauth";
/// ... and the sign-in that answered it (the time it was asked for).
const REAUTHED: &str = "reauthed";
/// How long such a request waits for the sign-in.
const REAUTH_WINDOW_SECS: i64 = 600;
/// Where a user who must have a second factor and has none is sent.
pub const ENROLMENT_PATH: &str = "/account/security/2fa";

/// Refresh the idle timestamp at most this often, to avoid rewriting the cookie on every hit.
const SEEN_GRANULARITY_SECS: i64 = 30;

/// The signed-in user, loaded fresh from the database on each request so that role
/// changes and deletions apply at once.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub id: i64,
    pub login: String,
    pub email: String,
    pub role: Role,
    /// The OpenID Connect `sub`.
    pub subject: String,
    /// How this session's user signed in (`pwd`, or `pwd otp`).
    pub amr: String,
    pub csrf_token: String,
    pub session_id: String,
    /// When the user signed in (Unix seconds): OpenID Connect's `auth_time`.
    pub issued_at: i64,
}

/// Starts a fresh session for `user_id` after a successful sign-in: new cookie, new
/// session id and a new CSRF token, so nothing from before sign-in carries over.
/// `methods` are the RFC 8176 values of how they signed in.
pub fn begin(session: &Session, user_id: i64, epoch: i32, methods: &str) -> Result<(), AppError> {
    let now = Utc::now().timestamp();
    restart(session)?;
    insert(session, USER_ID, user_id.to_string())?;
    insert(session, SESSION_ID, crate::auth::random_token(32))?;
    insert(session, ISSUED_AT, now.to_string())?;
    insert(session, LAST_SEEN, now.to_string())?;
    insert(session, EPOCH, epoch.to_string())?;
    insert(session, AMR, methods.to_string())?;
    Ok(())
}

/// A fresh, empty session with a new CSRF token: clear + renew (not purge, which would
/// drop the cookie about to be filled), so nothing from before carries over.
fn restart(session: &Session) -> Result<(), AppError> {
    // A pending request to sign in again is what this sign-in answers: it carries over,
    // as answered (by construction: this runs only after a password was checked).
    let asked: Option<String> =
        (session.get(REAUTH).ok().flatten()).or_else(|| session.get(REAUTHED).ok().flatten());
    session.clear();
    session.renew();
    if let Some(at) = asked {
        insert(session, REAUTHED, at)?;
    }
    insert(session, CSRF, crate::auth::random_token(32))
}

/// Notes that an application asked for a sign-in from `now` on (see [`signed_in_again`]).
pub fn ask_to_sign_in_again(session: &Session, now: i64) -> Result<(), AppError> {
    insert(session, REAUTH, now.to_string())
}

/// Whether the user signed in after this server asked them to (within the last ten
/// minutes); the answer is used up. Only this server writes the note, in the encrypted
/// cookie, and only a sign-in turns it into an answer, so no parameter of a request and
/// no clock can claim a sign-in that did not happen.
pub fn signed_in_again(session: &Session, now: i64) -> bool {
    let answered: Option<i64> = get_i64(session, REAUTHED);
    if answered.is_some() {
        session.remove(REAUTHED);
    }
    answered.is_some_and(|at| now - at <= REAUTH_WINDOW_SECS)
}

fn insert(session: &Session, key: &str, value: String) -> Result<(), AppError> {
    session
        .insert(key, value)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// The password was right and the account has a second factor: the session holds only
/// that, for [`PENDING_SECS`], until the code comes ([`pending_second_factor`]).
pub fn begin_second_factor(
    session: &Session,
    user_id: i64,
    epoch: i32,
    next: &str,
) -> Result<(), AppError> {
    restart(session)?;
    let now = Utc::now().timestamp();
    insert(session, PENDING, format!("{user_id}:{epoch}:{now}"))?;
    insert(session, PENDING_NEXT, next.to_string())
}

/// A sign-in waiting for its second factor, still in time: the user, the epoch their
/// password was checked under, and where to go afterwards.
pub fn pending_second_factor(session: &Session) -> Option<(i64, i32, String)> {
    let raw: String = session.get(PENDING).ok().flatten()?;
    let mut parts = raw.split(':').map(str::parse::<i64>);
    let (Some(Ok(user_id)), Some(Ok(epoch)), Some(Ok(started))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let age = Utc::now().timestamp() - started;
    if !(0..=PENDING_SECS).contains(&age) {
        return None;
    }
    let next = session
        .get(PENDING_NEXT)
        .ok()
        .flatten()
        .unwrap_or_else(|| "/".into());
    Some((user_id, i32::try_from(epoch).ok()?, next))
}

fn get_i64(session: &Session, key: &str) -> Option<i64> {
    session
        .get::<String>(key)
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
}

/// The request path with its query, to come back to after signing in.
fn current_path(req: &HttpRequest) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into())
}

impl FromRequest for SessionUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = req.get_session();
            let sign_in = || AppError::SignInRequired {
                next: current_path(&req),
            };
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::Internal("application state missing".into()))?;
            let (Some(user_id), Some(issued_at), Some(seen), Some(epoch)) = (
                get_i64(&session, USER_ID),
                get_i64(&session, ISSUED_AT),
                get_i64(&session, LAST_SEEN),
                get_i64(&session, EPOCH),
            ) else {
                return Err(sign_in());
            };
            let session_id: String = session.get(SESSION_ID).ok().flatten().ok_or_else(sign_in)?;
            let amr: String = session
                .get(AMR)
                .ok()
                .flatten()
                .unwrap_or_else(|| AMR_PASSWORD.into());
            let csrf_token: String = session.get(CSRF).ok().flatten().ok_or_else(sign_in)?;
            let now = Utc::now().timestamp();
            let idle = state.config.session_idle.as_secs() as i64;
            let absolute = state.config.session_absolute.as_secs() as i64;
            if now - seen > idle || now - issued_at > absolute || issued_at > now + 60 {
                session.purge();
                return Err(sign_in());
            }
            let (sid, live) = (session_id.clone(), state.protocol.live.clone());
            let found = db::run(&state.pool, move |conn| {
                if models::revoked_sessions::is_revoked(conn, &sid)? {
                    return Ok(None);
                }
                let user = models::users::find_by_id(conn, user_id)?;
                let required = match &user {
                    Some(u) => live.settings(conn)?.requires_second_factor(u.role()),
                    None => false,
                };
                Ok(user.map(|u| (u, required)))
            })
            .await?;
            let (user, second_factor_missing) = match found {
                Some((user, required)) => {
                    let missing = required && !user.has_second_factor();
                    (Some(user), missing)
                }
                None => (None, false),
            };
            // A session from before the user's last password, role or account change ends,
            // and so does any session of a deactivated user.
            let Some(user) = user.filter(|u| i64::from(u.session_epoch) == epoch && u.is_active())
            else {
                session.purge();
                return Err(sign_in());
            };
            if now - seen >= SEEN_GRANULARITY_SECS {
                let _ = session.insert(LAST_SEEN, now.to_string());
            }
            // A role that must have a second factor reaches only its enrolment (and
            // sign-out) until it has one.
            let path = req.path();
            let open = path.starts_with("/account/security")
                || path == "/logout"
                || path.starts_with("/oauth2/logout");
            if second_factor_missing && !open {
                return Err(AppError::SecondFactorRequired);
            }
            Ok(SessionUser {
                id: user.id,
                role: user.role(),
                login: user.login,
                email: user.email,
                subject: user.subject,
                amr,
                csrf_token,
                session_id,
                issued_at,
            })
        })
    }
}

impl SessionUser {
    /// When and how this session's user signed in, for ID tokens.
    pub fn sign_in(&self) -> SignIn {
        SignIn {
            at: DateTime::from_timestamp(self.issued_at, 0)
                .unwrap_or_else(Utc::now)
                .naive_utc(),
            methods: self.amr.clone(),
        }
    }

    /// When this session ends at the latest (its absolute expiry).
    pub fn expires_at(&self, absolute: std::time::Duration) -> chrono::NaiveDateTime {
        DateTime::from_timestamp(self.issued_at + absolute.as_secs() as i64, 0)
            .unwrap_or_else(Utc::now)
            .naive_utc()
    }
}

/// A signed-in user who may view the administration pages (superuser or support).
pub struct AdminViewer(pub SessionUser);

/// A signed-in superuser.
pub struct Superuser(pub SessionUser);

impl FromRequest for AdminViewer {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = SessionUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.role.can_view_admin() {
                Ok(AdminViewer(user))
            } else {
                Err(AppError::Forbidden)
            }
        })
    }
}

impl FromRequest for Superuser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = SessionUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.role.can_manage() {
                Ok(Superuser(user))
            } else {
                Err(AppError::Forbidden)
            }
        })
    }
}
