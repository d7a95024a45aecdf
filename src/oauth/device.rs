//! The device authorization grant (RFC 8628), for command-line tools, TVs and scripts
//! without a browser: the device asks for a code pair (§3.1–3.2), the user types the short
//! code at `/device` on another screen and answers the same consent screen as the code
//! grant's (§3.3), and the device polls the token endpoint until then (§3.4–3.5).

use chrono::Duration;
use diesel::MysqlConnection;
use serde_json::{Value, json};

use crate::auth::throttle::{self, Bucket, Verdict};
use crate::db::models::device_codes::{self, DeviceStatus, NewDeviceCode};
use crate::db::{Connect, DbError, models};
use crate::domain::{GrantType, Role, Scope, ScopeRequest, UserCode};
use crate::oauth::authorize::ConsentPrompt;
use crate::oauth::client_auth::{self, Caller};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::settings::Settings;
use crate::oauth::tokens::{self, Exchanged};
use crate::oauth::{Protocol, scopes, token_hash};

/// How long a device code and its user code are valid (RFC 8628 §3.2 `expires_in`).
pub const LIFETIME_SECS: i64 = 600;
/// How often the device may poll at first (§3.2 `interval`); each `slow_down` adds
/// [`SLOW_DOWN_STEP_SECS`] (§3.5).
pub const POLL_INTERVAL_SECS: i64 = 5;
const SLOW_DOWN_STEP_SECS: i64 = 5;
/// A poll this much early still counts as on time (a device's sleep and the network
/// jitter; RFC 8628 leaves the margin to the server).
const POLL_MARGIN_MS: i64 = 250;

/// The page the user reads the device's code into.
pub const VERIFICATION_PATH: &str = "/device";
/// Where the consent screen sends the user after answering for a device.
pub const ALLOWED_PATH: &str = "/device?answer=allowed";
pub const DENIED_PATH: &str = "/device?answer=denied";

const BAD_DEVICE_CODE: &str = "The device code is invalid or belongs to another client.";

/// The device authorization endpoint (RFC 8628 §3.1–3.2): the client authenticates as at
/// the token endpoint (a public client by its `client_id`), may use the grant, and asks for
/// scopes as in an authorization request.
pub fn start(
    db: &mut impl Connect,
    proto: &Protocol,
    caller: &Caller,
    params: &Params,
) -> Result<Value, OAuthError> {
    params.reject_repeated()?;
    let client = client_auth::authenticate_request(db, proto, caller, params)?.client;
    let settings = proto.live.settings(db)?;
    tokens::require_grant_for(&settings, &client, GrantType::DeviceCode)?;
    let request = scopes::for_authorization(
        params.get("scope"),
        &scopes::permitted(&client, &settings),
        settings.allowed_identity,
    )
    .map_err(OAuthError::invalid_scope)?;
    let conn = db.connection()?;
    let now = models::now();
    let bucket = [Bucket::device_authorization(&client.client_id)];
    let verdict = throttle::take(conn, &bucket, now)?;
    if let Verdict::Refused { .. } = verdict {
        return Err(OAuthError::Throttled {
            retry_after: verdict.retry_after_secs(now),
        });
    }
    let device_code = crate::auth::random_token(32);
    let scopes = crate::domain::scope_text(request.identity, &request.matomo);
    // A user code already in use is drawn again (20^8 codes: rarely even once).
    for _ in 0..5 {
        let user_code = UserCode::generate();
        let stored = device_codes::insert(
            conn,
            &NewDeviceCode {
                device_code_hash: &token_hash(&device_code),
                user_code_hash: &token_hash(user_code.as_str()),
                client_id: client.id,
                scopes: &scopes,
                poll_interval: POLL_INTERVAL_SECS as i32,
                created_at: now,
                expires_at: now + Duration::seconds(LIFETIME_SECS),
            },
        )?;
        if stored {
            let verification = format!("{}{VERIFICATION_PATH}", proto.issuer);
            return Ok(json!({
                "device_code": device_code,
                "user_code": user_code.to_string(),
                "verification_uri": verification,
                "verification_uri_complete": format!("{verification}?user_code={user_code}"),
                "expires_in": LIFETIME_SECS,
                "interval": POLL_INTERVAL_SECS,
            }));
        }
    }
    Err(OAuthError::Internal(
        "no free user code after five draws".into(),
    ))
}

/// The device polling the token endpoint (RFC 8628 §3.4–3.5): `authorization_pending`
/// until the user answers, `slow_down` when it polls faster than its interval (which then
/// grows), `access_denied`, `expired_token`, and the tokens once.
pub fn poll(
    db: &mut impl Connect,
    proto: &Protocol,
    settings: &Settings,
    client: &crate::domain::Client,
    params: &Params,
) -> Result<Exchanged, OAuthError> {
    tokens::require_grant_for(settings, client, GrantType::DeviceCode)?;
    let device_code = params
        .get("device_code")
        .ok_or_else(|| OAuthError::invalid_request("device_code is required."))?;
    let conn = db.connection()?;
    let device = device_codes::find_by_device_code(conn, &token_hash(device_code))?
        .filter(|d| d.client_id == client.id)
        .ok_or_else(|| OAuthError::invalid_grant(BAD_DEVICE_CODE))?;
    let now = models::now();
    if device.expires_at <= now {
        return Err(OAuthError::new(
            ErrorCode::ExpiredToken,
            "The device code has expired: start again at the device authorization endpoint.",
        ));
    }
    let (device, interval) = crate::db::transaction(conn, |conn| pace(conn, device.id, now))?;
    if let Some(interval) = interval {
        return Err(OAuthError::new(
            ErrorCode::SlowDown,
            format!("Polled too fast: wait {interval} seconds between requests from now on."),
        ));
    }
    match (device.status, device.code_id) {
        (DeviceStatus::Pending, _) => Err(OAuthError::new(
            ErrorCode::AuthorizationPending,
            "The user has not answered yet: poll again after the interval.",
        )),
        (DeviceStatus::Denied, _) => Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "The user denied the request.",
        )),
        (DeviceStatus::Approved, Some(code_id)) => {
            let row = models::codes::find_by_id(conn, code_id)?
                .ok_or_else(|| OAuthError::invalid_grant(BAD_DEVICE_CODE))?;
            tokens::redeem_device_code(db, proto, settings, client, row, BAD_DEVICE_CODE)
        }
        (DeviceStatus::Approved, None) => Err(OAuthError::invalid_grant(BAD_DEVICE_CODE)),
    }
}

/// Records this poll, one at a time per device code (its row locked): `Some(interval)`
/// when it came before the interval ended, which then grows by five seconds.
fn pace(
    conn: &mut MysqlConnection,
    id: i64,
    now: chrono::NaiveDateTime,
) -> Result<(device_codes::DeviceCode, Option<i64>), OAuthError> {
    let device = device_codes::find_for_update(conn, id)?
        .ok_or_else(|| OAuthError::invalid_grant(BAD_DEVICE_CODE))?;
    let early = device.last_polled_at.is_some_and(|at| {
        now - at < Duration::seconds(device.poll_interval) - Duration::milliseconds(POLL_MARGIN_MS)
    });
    let interval = match early {
        true => device.poll_interval + SLOW_DOWN_STEP_SECS,
        false => device.poll_interval,
    };
    device_codes::polled(conn, id, now, interval)?;
    Ok((device, early.then_some(interval)))
}

/// Why a typed user code opens no consent screen.
#[derive(Debug)]
pub enum EntryRefusal {
    /// Not the shape of a user code, or no device waits for it: a message for the field.
    Wrong(String),
    /// Five wrong codes in a quarter hour: wait this many seconds.
    Throttled(i64),
}

/// A signed-in user typed a user code at `/device`. A pending, unexpired code of an active
/// client that may use the grant opens the consent screen (always: a device is easily
/// phished, so neither trust nor remembered consent skips it). Wrong codes are counted
/// per user, five per quarter hour; a right one is not.
pub fn enter(
    conn: &mut MysqlConnection,
    typed: &str,
    user_id: i64,
    role: Role,
) -> Result<Result<ConsentPrompt, EntryRefusal>, DbError> {
    let code = match UserCode::parse(typed) {
        Ok(code) => code,
        Err(e) => return Ok(Err(EntryRefusal::Wrong(e.0))),
    };
    let now = models::now();
    let bucket = [Bucket::device_user_code(user_id)];
    let verdict = throttle::take(conn, &bucket, now)?;
    if let Verdict::Refused { .. } = verdict {
        return Ok(Err(EntryRefusal::Throttled(verdict.retry_after_secs(now))));
    }
    let wrong = || {
        Ok(Err(EntryRefusal::Wrong(
            "No device is waiting for this code: check it, or start again on the device (codes expire after 10 minutes).".into(),
        )))
    };
    let Some(device) = device_codes::find_by_user_code(conn, &token_hash(code.as_str()))?
        .filter(|d| d.status == DeviceStatus::Pending && d.expires_at > now)
    else {
        return wrong();
    };
    let Some(client) = models::clients::find_by_id(conn, device.client_id)? else {
        return wrong();
    };
    throttle::refund(conn, &bucket)?;
    let settings = Settings::load(conn)?;
    if !client.is_active()
        || settings
            .grant_allowed(&client, GrantType::DeviceCode)
            .is_err()
    {
        return Ok(Err(EntryRefusal::Wrong(
            "This application may not use device codes now (paused, or the grant is switched off)."
                .into(),
        )));
    }
    let Ok(requested) = ScopeRequest::parse(&device.scopes) else {
        return wrong();
    };
    let offered: Vec<Scope> = (requested.matomo.iter().copied())
        .filter(|s| scopes::role_allows(role, *s))
        .collect();
    if !requested.matomo.is_empty() && offered.is_empty() {
        return Ok(Err(EntryRefusal::Wrong(
            "The device asks for access only a superuser can grant.".into(),
        )));
    }
    let handle = crate::auth::random_token(32);
    models::authorization_requests::insert(
        conn,
        &models::authorization_requests::AuthorizationRequestRow {
            handle_hash: token_hash(&handle).to_vec(),
            user_id,
            client_id: client.id,
            redirect_uri: String::new(),
            redirect_uri_given: false,
            scopes: crate::domain::scope_text(requested.identity, &offered),
            state: None,
            code_challenge: None,
            expires_at: device.expires_at,
            nonce: None,
            acr: None,
            device_code_id: Some(device.id),
        },
    )?;
    let (sites, limit) =
        crate::oauth::authorize::consent::site_choice(conn, user_id, role, client.id)?;
    Ok(Ok(ConsentPrompt {
        handle,
        highest_requested: requested.matomo.last().copied(),
        identity: requested.identity,
        client,
        offered,
        redirect_uri: String::new(),
        sites,
        limit,
        chosen_scope: None,
    }))
}
