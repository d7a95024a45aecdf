//! Dynamic client registration (RFC 7591), resource indicators (RFC 8707) and protected
//! resource metadata (RFC 9728).

use consentry::domain::Role;
use serde_json::{Value, json};

use crate::common::{FormData, PASSWORD, TestApp, spawn_app, text_of};
use crate::protocol::{self, location, param};

pub async fn register(
    app: &TestApp,
    bearer: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url("/oauth2/register"))
        .json(body);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub fn enable(app: &TestApp, policy: &str) {
    protocol::sql(
        app,
        &format!(
            "UPDATE oauth_settings SET registration_enabled = TRUE, registration_policy = '{policy}'"
        ),
    );
}

pub fn mcp_metadata(redirect: &str) -> Value {
    json!({
        "client_name": "Claude Desktop",
        "redirect_uris": [redirect],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "matomo:read",
        "software_id": "ignored-unknown-field",
    })
}

async fn metadata(app: &TestApp) -> Value {
    app.client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn registration_is_off_by_default_and_then_advertised_when_on() {
    let app = spawn_app().await;
    let (status, _, body) = register(&app, None, &mcp_metadata("http://127.0.0.1:9/cb")).await;
    assert_eq!(status, 404, "{body}");
    assert!(metadata(&app).await.get("registration_endpoint").is_none());
    enable(&app, "open");
    assert_eq!(
        metadata(&app).await["registration_endpoint"],
        app.url("/oauth2/register")
    );
}

#[tokio::test]
async fn an_open_registration_creates_an_untrusted_self_registered_client() {
    let app = spawn_app().await;
    enable(&app, "open");
    let (status, headers, body) = register(
        &app,
        None,
        &mcp_metadata("cursor://anysphere.cursor-retrieval/oauth/callback"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let id = body["client_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(body.get("client_secret").is_none());
    assert_eq!(body["client_secret_expires_at"], 0);
    assert!(body["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        body["redirect_uris"],
        json!(["cursor://anysphere.cursor-retrieval/oauth/callback"])
    );
    assert_eq!(body["scope"], "matomo:read");
    let (trusted, pkce, owner, from): (bool, bool, Option<i64>, Option<String>) = {
        use consentry::db::schema::oauth_clients::dsl as c;
        use diesel::prelude::*;
        c::oauth_clients
            .filter(c::client_id.eq(id))
            .select((c::trusted, c::require_pkce, c::owner_id, c::registered_from))
            .first(&mut app.conn())
            .unwrap()
    };
    assert_eq!(
        (trusted, pkce, owner, from.as_deref()),
        (false, true, None, Some("127.0.0.1"))
    );
    let (actor, details, ip) = crate::console::last_event(&app, "client.registered");
    assert_eq!(
        (actor.as_str(), ip.as_deref()),
        ("registration", Some("127.0.0.1"))
    );
    assert_eq!(details["name"], "Claude Desktop");

    // A confidential registration gets a secret, stored as a hash, that authenticates.
    let (status, _, body) = register(
        &app,
        None,
        &json!({ "client_name": "Server app", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_post" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["client_secret"].as_str().unwrap();
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["scope"], "matomo:read matomo:write matomo:admin");
    let (status, _, _) = protocol::post(
        &app,
        "/oauth2/introspect",
        Some((body["client_id"].as_str().unwrap(), secret)),
        &[("token", "nothing")],
    )
    .await;
    assert_eq!(status, 200);
    // Listed with a marker in Manage clients.
    let admin = app.new_browser();
    admin.sign_in_as("root1", Role::Superuser).await;
    let list = admin.page("/admin/oauth2/clients").await;
    assert_eq!(list.matches("Self-registered</span>").count(), 2);
}

#[tokio::test]
async fn invalid_metadata_is_refused_naming_the_field_and_creates_nothing() {
    let app = spawn_app().await;
    enable(&app, "token");
    protocol::sql(
        &app,
        "UPDATE oauth_settings SET registration_policy = 'open'",
    );
    let base = mcp_metadata("http://127.0.0.1:9/cb");
    let with = |field: &str, value: Value| {
        let mut m = base.clone();
        if value.is_null() {
            m.as_object_mut().unwrap().remove(field);
        } else {
            m[field] = value;
        }
        m
    };
    let cases = [
        (
            with("redirect_uris", Value::Null),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            with("redirect_uris", json!([])),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            with("redirect_uris", json!(["javascript:alert(1)"])),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            with("redirect_uris", json!(["data:text/html,x"])),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            with("redirect_uris", json!(["https://a.example/cb#x"])),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            with("redirect_uris", json!(["https://*.a.example/cb"])),
            "invalid_redirect_uri",
            "wildcard",
        ),
        (
            with("redirect_uris", json!(["http://a.example/cb"])),
            "invalid_redirect_uri",
            "https://",
        ),
        (
            with("redirect_uris", json!("https://a.example/cb")),
            "invalid_redirect_uri",
            "redirect_uris",
        ),
        (
            with("client_name", json!(42)),
            "invalid_client_metadata",
            "client_name",
        ),
        (
            with("client_name", json!("n".repeat(65))),
            "invalid_client_metadata",
            "client_name",
        ),
        (
            with("token_endpoint_auth_method", json!("private_key_jwt")),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            with("grant_types", json!(["client_credentials"])),
            "invalid_client_metadata",
            "client_credentials",
        ),
        (
            with("grant_types", json!(["refresh_token"])),
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            with("grant_types", json!(["implicit"])),
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            with("response_types", json!(["token"])),
            "invalid_client_metadata",
            "response_types",
        ),
        (
            with("scope", json!("matomo:superuser")),
            "invalid_client_metadata",
            "scope",
        ),
        (
            with("scope", json!("matomo:everything")),
            "invalid_client_metadata",
            "scope",
        ),
        (
            with("client_uri", json!("javascript:alert(1)")),
            "invalid_client_metadata",
            "client_uri",
        ),
        (
            with("logo_uri", json!(42)),
            "invalid_client_metadata",
            "logo_uri",
        ),
        (
            json!(["not", "an", "object"]),
            "invalid_client_metadata",
            "JSON object",
        ),
    ];
    for (i, (body, error, mentions)) in cases.iter().enumerate() {
        // Keep under the per-second limit.
        protocol::sql(&app, "DELETE FROM throttle_buckets");
        let (status, _, answer) = register(&app, None, body).await;
        assert_eq!(status, 400, "case {i}: {answer}");
        assert_eq!(answer["error"], *error, "case {i}");
        let description = answer["error_description"].as_str().unwrap();
        assert!(description.contains(mentions), "case {i}: {description}");
    }
    protocol::sql(&app, "DELETE FROM throttle_buckets");
    let res = reqwest::Client::new()
        .post(app.url("/oauth2/register"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("client_name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        crate::console::count(&app, "SELECT id FROM oauth_clients"),
        0
    );
}

#[tokio::test]
async fn open_registration_is_rate_limited_per_address() {
    let app = spawn_app().await;
    enable(&app, "open");
    let m = mcp_metadata("http://127.0.0.1:9/cb");
    assert_eq!(register(&app, None, &m).await.0, 201);
    // The bucket holds this second's allowance, used up.
    protocol::sql(&app, "DELETE FROM throttle_buckets");
    protocol::sql(
        &app,
        &full_bucket("register_s", "127.0.0.1", 2, "UTC_TIMESTAMP(6)"),
    );
    let (status, headers, body) = register(&app, None, &m).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "1");
    // Twenty in this hour is the hourly limit.
    protocol::sql(&app, "DELETE FROM throttle_buckets");
    protocol::sql(
        &app,
        &full_bucket("register_h", "127.0.0.1", 20, "UTC_TIMESTAMP(6)"),
    );
    let (status, headers, _) = register(&app, None, &m).await;
    assert_eq!(
        (status, headers["retry-after"].to_str().unwrap()),
        (429, "3600")
    );
    // Refusals are counted in one audit row per address and quarter hour, not a row each.
    for _ in 0..30 {
        assert_eq!(register(&app, None, &m).await.0, 429);
    }
    let rows = crate::console::count(
        &app,
        "SELECT id FROM audit_events WHERE action = 'registration.refused'",
    );
    assert!(
        rows <= 2,
        "{rows} rows (two only across a quarter-hour boundary)"
    );
    assert_eq!(
        crate::console::count(
            &app,
            "SELECT 1 FROM (SELECT SUM(repeat_count) AS n FROM audit_events \
             WHERE action = 'registration.refused') t WHERE n = 32"
        ),
        1,
        "all 32 refusals are counted"
    );
    // Another address's limit is its own.
    protocol::sql(&app, "DELETE FROM throttle_buckets");
    protocol::sql(
        &app,
        &full_bucket("register_h", "192.0.2.1", 20, "UTC_TIMESTAMP(6)"),
    );
    assert_eq!(register(&app, None, &m).await.0, 201);
}

/// SQL that stores a throttle bucket of `kind` for `key` with `hits` counted since `start`.
pub fn full_bucket(kind: &str, key: &str, hits: i32, start: &str) -> String {
    format!(
        "INSERT INTO throttle_buckets (bucket_hash, kind, hits, window_start, expires_at) \
         VALUES (UNHEX(SHA2(CONCAT('{kind}', CHAR(0), '{key}'), 256)), '{kind}', {hits}, {start}, {start} + INTERVAL 2 HOUR)"
    )
}

#[tokio::test]
async fn token_policy_needs_a_live_initial_access_token_made_on_the_console() {
    let app = spawn_app().await;
    app.sign_in_as("root1", Role::Superuser).await;
    // Turned on through the settings form: an audited change.
    let settings = "/admin/settings/oauth2";
    let form = app
        .form(settings, settings)
        .await
        .set("registration_enabled", "1")
        .set("registration_policy", "token")
        .set("confirm_password", crate::common::PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 303);
    let (_, details, _) = crate::console::last_event(&app, "settings.changed");
    assert_eq!(details["new"]["registration_enabled"], true);
    assert_eq!(details["new"]["registration_policy"], "token");

    let m = mcp_metadata("http://127.0.0.1:9/cb");
    let (status, headers, body) = register(&app, None, &m).await;
    assert_eq!(status, 401, "{body}");
    // No credentials, no error code (RFC 6750 §3.1).
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"consentry\"");

    let page = "/admin/oauth2/registration-tokens";
    let bad = app.form(page, page).await.set("label", "").set("uses", "0");
    let res = app.submit(&bad).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(text_of(&html, "#label-error").is_some() && text_of(&html, "#uses-error").is_some());
    let form = app
        .form(page, page)
        .await
        .set("label", "Claude team")
        .set("days", "7")
        .set("uses", "1")
        .set("confirm_password", crate::common::PASSWORD);
    assert_eq!(app.submit(&form).await.status(), 303);
    let html = app.page(page).await;
    let token = text_of(&html, "#iat-token").expect("the token, once");
    assert!(!app.page(page).await.contains(&token), "shown once");
    assert_eq!(
        crate::console::last_event(&app, "registration_token.created").0,
        "root1"
    );

    let (status, headers, _) = register(&app, Some("wrong"), &m).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // A mistake in the metadata does not spend the token's one use.
    let typo = json!({ "redirect_uris": ["javascript:alert(1)"] });
    assert_eq!(register(&app, Some(&token), &typo).await.0, 400);
    assert_eq!(register(&app, Some(&token), &m).await.0, 201);
    assert_eq!(register(&app, Some(&token), &m).await.0, 401, "used up");
    assert!(app.page(page).await.contains("Used up"));

    // Revoked and expired tokens are refused too.
    let form = app
        .form(page, page)
        .await
        .set("label", "Second")
        .set("uses", "5")
        .set("confirm_password", crate::common::PASSWORD);
    app.submit(&form).await;
    let second = text_of(&app.page(page).await, "#iat-token").unwrap();
    protocol::sql(
        &app,
        "UPDATE oauth_initial_access_tokens SET expires_at = NOW(6) - INTERVAL 1 SECOND WHERE label = 'Second'",
    );
    assert_eq!(register(&app, Some(&second), &m).await.0, 401);
    let form = app
        .form(page, page)
        .await
        .set("label", "Third")
        .set("uses", "5")
        .set("confirm_password", crate::common::PASSWORD);
    app.submit(&form).await;
    let third = text_of(&app.page(page).await, "#iat-token").unwrap();
    let html = app.page(page).await;
    let revoke = html
        .split("action=\"")
        .filter_map(|s| s.split('"').next())
        .find(|a| a.ends_with("/revoke"))
        .unwrap()
        .to_string();
    assert_eq!(
        app.submit(&FormData::from_page(&html, &revoke))
            .await
            .status(),
        303
    );
    assert!(
        app.audit_actions()
            .contains(&"registration_token.revoked".to_string())
    );
    // The first revoke button is the newest token's: "Third" is refused from now on.
    assert_eq!(register(&app, Some(&third), &m).await.0, 401);
    let _ = PASSWORD;
}

#[tokio::test]
async fn a_self_registered_client_always_gets_the_consent_screen_with_a_notice() {
    let app = spawn_app().await;
    enable(&app, "open");
    let (_, _, body) = register(&app, None, &json!({
        "client_name": "Sneaky", "redirect_uris": [protocol::CALLBACK], "token_endpoint_auth_method": "none"
    }))
    .await;
    let id = body["client_id"].as_str().unwrap().to_string();
    // Even if an administrator marks it trusted.
    protocol::sql(&app, "UPDATE oauth_clients SET trusted = TRUE");
    app.sign_in_as("enduser", Role::User).await;
    let path = protocol::authorize_path(&[
        ("response_type", "code"),
        ("client_id", &id),
        ("redirect_uri", protocol::CALLBACK),
        ("code_challenge", protocol::CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = app.get(&path).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    crate::common::assert_valid_html(&html);
    assert!(html.contains("registered itself"));
    assert!(html.contains("Sneaky"));
    // Approving once is not remembered for it: the screen shows again.
    let to = protocol::consent(&app, &path, "allow", "matomo:read").await;
    assert!(param(&to, "code").is_some());
    assert_eq!(app.get(&path).await.status(), 200);
    // Its errors stay on an error page instead of redirecting to a URI nobody vetted.
    let bad = format!("{path}&scope=matomo:nothing");
    let res = app.get(&bad).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // Without a name, it is named after where it sends the user.
    let (_, _, body) = register(
        &app,
        None,
        &json!({ "redirect_uris": ["https://tools.example/cb"] }),
    )
    .await;
    assert_eq!(body["client_name"], "tools.example");
}

#[tokio::test]
async fn resource_must_name_this_api_and_is_described_by_rfc_9728_metadata() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], app.address);
    assert_eq!(doc["authorization_servers"], json!([app.address]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(
        doc["scopes_supported"],
        json!(["matomo:read", "matomo:write", "matomo:admin"])
    );

    let client = protocol::register(&app, protocol::Spec::confidential()).await;
    app.sign_in_as("enduser", Role::User).await;
    let mut pairs = protocol::code_request(&client, false);
    pairs.push(("resource", "https://elsewhere.example/api"));
    let res = app.get(&protocol::authorize_path(&pairs)).await;
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("invalid_target"),
        "{to}"
    );

    let mut pairs = protocol::code_request(&client, false);
    let own = app.address.clone();
    pairs.push(("resource", &own));
    let to = protocol::consent(
        &app,
        &protocol::authorize_path(&pairs),
        "allow",
        "matomo:read",
    )
    .await;
    let code = param(&to, "code").unwrap();
    let (status, body) = protocol::token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("redirect_uri", protocol::CALLBACK),
            ("code", &code),
            ("resource", "https://elsewhere.example/api"),
        ],
    )
    .await;
    assert_eq!((status, protocol::error(&body)), (400, "invalid_target"));
    let code = protocol::approved_code(&app, &client, false).await;
    let with_slash = format!("{own}/");
    let (status, body) = protocol::token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("redirect_uri", protocol::CALLBACK),
            ("code", &code),
            ("resource", &with_slash),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn self_registered_names_cannot_pass_for_another_client() {
    let app = spawn_app().await;
    enable(&app, "open");
    // "Analytics app", made on the console.
    protocol::register(&app, protocol::Spec::confidential()).await;
    let with_name = |name: &str| {
        let mut m = mcp_metadata("http://127.0.0.1:9/cb");
        m["client_name"] = json!(name);
        m
    };
    for (name, why) in [
        ("Analytics app", "looks like"),
        ("ANALYTICS  APP", "looks like"),
        ("Analytics app ", "looks like"),
        ("Anal\u{443}tics app", "scripts"),
        ("Аnalytics app", "scripts"),
        ("Ana\u{200b}lytics app", "invisible"),
        ("\u{202e}ppa scitylanA", "invisible"),
        ("Ana\u{2066}lytics app", "invisible"),
    ] {
        protocol::sql(&app, "DELETE FROM throttle_buckets");
        let (status, _, body) = register(&app, None, &with_name(name)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{name:?}: {body}"
        );
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(why), "{name:?}: {description}");
    }
    // A name of its own, written either way in Unicode, is stored in one (NFC) form.
    protocol::sql(&app, "DELETE FROM throttle_buckets");
    let (status, _, body) = register(&app, None, &with_name("Cafe\u{301} reports")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["client_name"], "Caf\u{e9} reports");
    // Two copies of one app (self-registered) are told apart by a suffix.
    protocol::sql(&app, "DELETE FROM throttle_buckets");
    let (_, _, again) = register(&app, None, &with_name("Caf\u{e9} reports")).await;
    assert!(
        again["client_name"]
            .as_str()
            .unwrap()
            .starts_with("Caf\u{e9} reports ("),
        "{again}"
    );
    // Two nameless clients sending users to the same host are told apart.
    let mut nameless = mcp_metadata("http://127.0.0.1:9/cb");
    nameless.as_object_mut().unwrap().remove("client_name");
    protocol::sql(&app, "DELETE FROM throttle_buckets");
    let (_, _, first) = register(&app, None, &nameless).await;
    protocol::sql(&app, "DELETE FROM throttle_buckets");
    let (_, _, second) = register(&app, None, &nameless).await;
    assert_eq!(first["client_name"], "127.0.0.1");
    assert!(
        second["client_name"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1 ("),
        "{second}"
    );
}

#[tokio::test]
async fn parallel_registrations_of_one_name_all_get_names_of_their_own() {
    let app = spawn_app().await;
    enable(&app, "open");
    let attempts = (0..10).map(|n| {
        let app = &app;
        async move {
            // Each from its own address, so the per-address limit does not interfere.
            let res = reqwest::Client::builder()
                .local_address(Some(format!("127.0.3.{}", n + 1).parse().unwrap()))
                .build()
                .unwrap()
                .post(app.url("/oauth2/register"))
                .json(&mcp_metadata("http://127.0.0.1:9/cb"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["client_name"]
                .as_str()
                .unwrap()
                .to_string()
        }
    });
    let mut names = futures_util::future::join_all(attempts).await;
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10, "{names:?}");
}
