//! The device authorization grant (RFC 8628): codes, the `/device` page with its throttle,
//! the consent screen, polling with `authorization_pending`, `slow_down`, `access_denied`,
//! `expired_token`, and the tokens once.

use consentry::domain::{ClientType, GrantType, Role, Scope};
use serde_json::Value;

use super::{Spec, consent_form, error, location, post, register, sql, token};
use crate::common::{TestApp, spawn_app, text_of};

const URN: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn device_client() -> Spec {
    Spec {
        kind: ClientType::Public,
        grants: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: vec![Scope::Read, Scope::Write],
        uris: Vec::new(),
        ..Spec::confidential()
    }
}

async fn start(app: &TestApp, client_id: &str, scope: &str) -> (u16, Value) {
    let (status, headers, body) = post(
        app,
        "/oauth2/device_authorization",
        None,
        &[("client_id", client_id), ("scope", scope)],
    )
    .await;
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    (status, body)
}

async fn poll(app: &TestApp, client_id: &str, device_code: &str) -> (u16, Value) {
    token(
        app,
        &[
            ("grant_type", URN),
            ("client_id", client_id),
            ("device_code", device_code),
        ],
    )
    .await
}

/// Lets the next poll come on time (as if the interval had passed).
fn interval_passed(app: &TestApp) {
    sql(app, "UPDATE oauth_device_codes SET last_polled_at = NULL");
}

/// Types `code` at `/device` as the signed-in user; returns the status and the page.
async fn enter(app: &TestApp, code: &str) -> (u16, String, Option<String>) {
    let csrf = app.csrf_token("/device").await;
    let res = app
        .post_form("/device", &csrf, &[("user_code", code)])
        .await;
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, res.text().await.unwrap(), retry)
}

/// Answers the consent screen `html` with `decision`; returns where it sends the user.
async fn answer(app: &TestApp, html: &str, decision: &str) -> String {
    let (handle, csrf) = consent_form(html);
    let res = app
        .post_form(
            "/oauth2/consent",
            &csrf,
            &[
                ("request", &handle),
                ("scope", "matomo:read"),
                ("decision", decision),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    location(&res)
}

#[tokio::test]
async fn the_whole_device_flow_from_codes_to_tokens_once() {
    let app = spawn_app().await;
    let client = register(&app, device_client()).await;
    // Off by default: refused, and not in the metadata.
    let (status, body) = start(&app, &client.id, "matomo:read").await;
    assert_eq!(
        (status, error(&body)),
        (400, "unauthorized_client"),
        "{body}"
    );
    let doc: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert!(doc.get("device_authorization_endpoint").is_none());

    sql(&app, "UPDATE oauth_settings SET device_flow_enabled = TRUE");
    let doc: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    let base = app.url("");
    let base = base.trim_end_matches('/');
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{base}/oauth2/device_authorization")
    );
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&URN.into())
    );

    let (status, codes) = start(&app, &client.id, "matomo:read").await;
    assert_eq!(status, 200, "{codes}");
    let user_code = codes["user_code"].as_str().unwrap().to_string();
    let device_code = codes["device_code"].as_str().unwrap().to_string();
    assert_eq!(user_code.len(), 9);
    assert!(
        user_code.chars().enumerate().all(|(i, c)| if i == 4 {
            c == '-'
        } else {
            "BCDFGHJKLMNPQRSTVWXZ".contains(c)
        }),
        "{user_code}"
    );
    assert_eq!(codes["verification_uri"], format!("{base}/device"));
    assert_eq!(
        codes["verification_uri_complete"],
        format!("{base}/device?user_code={user_code}")
    );
    assert_eq!(
        (codes["expires_in"].as_i64(), codes["interval"].as_i64()),
        (Some(600), Some(5))
    );
    // Only hashes are stored.
    assert_eq!(
        crate::console::count(
            &app,
            &format!(
                "SELECT id FROM oauth_device_codes WHERE device_code_hash = '{device_code}' OR user_code_hash = '{}'",
                user_code.replace('-', "")
            )
        ),
        0
    );

    // Pending; polled too fast: slow_down, and the interval grows by five seconds.
    let (status, body) = poll(&app, &client.id, &device_code).await;
    assert_eq!((status, error(&body)), (400, "authorization_pending"));
    let (status, body) = poll(&app, &client.id, &device_code).await;
    assert_eq!((status, error(&body)), (400, "slow_down"));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("10 seconds")
    );
    let (_, body) = poll(&app, &client.id, &device_code).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("15 seconds")
    );

    // The user opens the complete URI (signing in first), and the code is filled in.
    let res = app.get(&format!("/device?user_code={user_code}")).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login"));
    app.sign_in_as("tv-owner", Role::User).await;
    let page = app
        .page(&format!("/device?user_code={}", user_code.to_lowercase()))
        .await;
    assert!(page.contains(&format!("value=\"{user_code}\"")));
    // Typed loosely: the same consent screen as the code grant, going back nowhere.
    let (status, html, _) = enter(&app, &user_code.replace('-', " ").to_lowercase()).await;
    assert_eq!(status, 200);
    assert!(html.contains("Analytics app is requesting access"));
    assert!(html.contains("Nowhere: you continue on your device"));
    let to = answer(&app, &html, "allow").await;
    assert_eq!(to, "/device?answer=allowed");
    assert!(
        text_of(&app.page(&to).await, "h1")
            .unwrap()
            .contains("Device connected")
    );
    // The code cannot be entered twice.
    assert_eq!(enter(&app, &user_code).await.0, 422);

    interval_passed(&app);
    let (status, tokens) = poll(&app, &client.id, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "matomo:read");
    assert!(tokens["refresh_token"].is_string());
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let api = crate::api::api(&app, Some(&access), "API.getConsentryVersion", "").await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert_eq!(
        crate::console::count(
            &app,
            &format!("SELECT id FROM oauth_grants WHERE grant_type = '{URN}'")
        ),
        1
    );
    // The refresh token continues it.
    let (status, refreshed) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");

    // Tokens once: a second redemption is refused and revokes what the first one got.
    interval_passed(&app);
    let (status, body) = poll(&app, &client.id, &device_code).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    let api = crate::api::api(&app, Some(&access), "API.getConsentryVersion", "").await;
    assert_eq!(api.status, 401);
    let (actor, details, _) = crate::console::last_event(&app, "consent.granted");
    assert_eq!(
        (actor.as_str(), details["scope"].as_str()),
        ("tv-owner", Some("matomo:read"))
    );
}

#[tokio::test]
async fn denial_expiry_and_refusals_end_as_the_rfc_says() {
    let app = spawn_app().await;
    sql(&app, "UPDATE oauth_settings SET device_flow_enabled = TRUE");
    let client = register(&app, device_client()).await;
    app.sign_in_as("tv-owner", Role::User).await;

    // Denied: access_denied from then on.
    let (_, codes) = start(&app, &client.id, "matomo:read").await;
    let (user_code, device_code) = (
        codes["user_code"].as_str().unwrap(),
        codes["device_code"].as_str().unwrap(),
    );
    let (_, html, _) = enter(&app, user_code).await;
    assert_eq!(answer(&app, &html, "deny").await, "/device?answer=denied");
    assert!(
        app.page("/device?answer=denied")
            .await
            .contains("Device refused")
    );
    let (status, body) = poll(&app, &client.id, device_code).await;
    assert_eq!((status, error(&body)), (400, "access_denied"));

    // Expired: expired_token, and the code can no longer be entered.
    let (_, codes) = start(&app, &client.id, "matomo:read").await;
    let (user_code, device_code) = (
        codes["user_code"].as_str().unwrap(),
        codes["device_code"].as_str().unwrap(),
    );
    sql(
        &app,
        "UPDATE oauth_device_codes SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 SECOND",
    );
    let (status, body) = poll(&app, &client.id, device_code).await;
    assert_eq!((status, error(&body)), (400, "expired_token"));
    let (status, html, _) = enter(&app, user_code).await;
    assert_eq!(status, 422);
    assert!(html.contains("No device is waiting for this code"));

    // Another client's device code, an unknown one, a missing one.
    let other = register(&app, device_client()).await;
    let (_, codes) = start(&app, &client.id, "matomo:read").await;
    let device_code = codes["device_code"].as_str().unwrap();
    assert_eq!(
        error(&poll(&app, &other.id, device_code).await.1),
        "invalid_grant"
    );
    assert_eq!(
        error(&poll(&app, &client.id, "nope").await.1),
        "invalid_grant"
    );
    let (status, body) = token(&app, &[("grant_type", URN), ("client_id", &client.id)]).await;
    assert_eq!((status, error(&body)), (400, "invalid_request"));

    // At the device authorization endpoint: a scope the client may not have, a client
    // without the grant, a wrong secret, an unknown client.
    assert_eq!(
        error(&start(&app, &client.id, "matomo:admin").await.1),
        "invalid_scope"
    );
    let plain = register(&app, Spec::public()).await;
    assert_eq!(
        error(&start(&app, &plain.id, "matomo:read").await.1),
        "unauthorized_client"
    );
    let mut confidential = Spec::confidential();
    confidential.grants.push(GrantType::DeviceCode);
    let confidential = register(&app, confidential).await;
    let (status, _, body) = post(
        &app,
        "/oauth2/device_authorization",
        Some((&confidential.id, "wrong secret")),
        &[("scope", "matomo:read")],
    )
    .await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    let (status, _, body) = post(
        &app,
        "/oauth2/device_authorization",
        Some((&confidential.id, confidential.secret())),
        &[("scope", "matomo:read")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Matomo's address for the same endpoint; GET is not allowed.
    let (status, _, body) = post(
        &app,
        "/index.php?module=OAuth2&action=device_authorization",
        None,
        &[("client_id", &client.id)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.get("/oauth2/device_authorization").await.status(), 405);
    // Switched off again: polling is refused as well.
    sql(
        &app,
        "UPDATE oauth_settings SET device_flow_enabled = FALSE",
    );
    let (status, body) = poll(&app, &client.id, device_code).await;
    assert_eq!((status, error(&body)), (400, "unauthorized_client"));
}

#[tokio::test]
async fn five_wrong_codes_per_user_and_quarter_hour_then_429() {
    let app = spawn_app().await;
    sql(&app, "UPDATE oauth_settings SET device_flow_enabled = TRUE");
    let client = register(&app, device_client()).await;
    let (_, codes) = start(&app, &client.id, "matomo:read").await;
    let right = codes["user_code"].as_str().unwrap().to_string();
    app.sign_in_as("guesser", Role::User).await;
    // A malformed code is a field message and costs nothing.
    let (status, html, _) = enter(&app, "12345678").await;
    assert_eq!(status, 422);
    assert!(html.contains("Type the eight letters"));
    for _ in 0..5 {
        let (status, html, _) = enter(&app, "BCDF-BCDF").await;
        assert_eq!(status, 422);
        assert!(
            html.contains("value=\"BCDF-BCDF\""),
            "the form keeps what was typed"
        );
    }
    // The sixth, even the right one, waits.
    let (status, html, retry) = enter(&app, &right).await;
    assert_eq!(status, 429);
    assert!(html.contains("Too many wrong codes"));
    assert!(retry.unwrap().parse::<i64>().unwrap() > 0);
    // Another user is not held up by them.
    let other = app.new_browser();
    other.sign_in_as("owner-of-tv", Role::User).await;
    assert_eq!(enter(&other, &right).await.0, 200);
    // Parallel wrong codes never get more than five answers before the 429s.
    let third = app.new_browser();
    third.sign_in_as("burst", Role::User).await;
    let csrf = third.csrf_token("/device").await;
    let attempts = (0..12).map(|_| {
        let (third, csrf) = (&third, csrf.clone());
        async move {
            third
                .post_form("/device", &csrf, &[("user_code", "BCDF-BCDF")])
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
}
