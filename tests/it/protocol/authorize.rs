//! The authorization endpoint and the consent screen.

use consentry::domain::{GrantType, Role, Scope};

use super::*;
use crate::common::{PASSWORD, spawn_app};

async fn assert_error_page(app: &crate::common::TestApp, path: &str) {
    let res = app.get(path).await;
    assert_eq!(res.status(), 400, "{path}");
    assert!(
        res.headers().get("location").is_none(),
        "{path} must not redirect"
    );
}

async fn assert_redirected_error(app: &crate::common::TestApp, path: &str, code: &str) -> String {
    let res = app.get(path).await;
    assert_eq!(res.status(), 303, "{path}");
    let to = location(&res);
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some(code), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("abc123"), "{to}");
    assert_eq!(param(&to, "iss").as_deref(), Some(app.address.as_str()));
    assert!(param(&to, "error_description").is_some());
    param(&to, "error_description").unwrap()
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_get_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    assert_error_page(
        &app,
        &authorize_path(&[
            ("client_id", "nope"),
            ("redirect_uri", "https://evil"),
            ("response_type", "code"),
        ]),
    )
    .await;
    assert_error_page(
        &app,
        &authorize_path(&[("redirect_uri", CALLBACK), ("response_type", "code")]),
    )
    .await;
    for variant in [
        "https://example-app.com/oauth/callback/",
        "https://example-app.com/oauth/callback/..",
        "https://example-app.com/oauth/callback?x=1",
        "https://example-app.com/oauth/callback#f",
        "https://EXAMPLE-APP.com/oauth/callback",
        "https://example-app.com/oauth/%63allback",
        "https://example-app.com@evil.com/oauth/callback",
        "https://user@example-app.com/oauth/callback",
        "https://example-app.com:8443/oauth/callback",
        "http://example-app.com/oauth/callback",
        "https://example-app.com/oauth/callback%252F",
    ] {
        let mut pairs = code_request(&client, false);
        pairs[2] = ("redirect_uri", variant);
        assert_error_page(&app, &authorize_path(&pairs)).await;
    }
    // A repeated redirect_uri is refused before anything could redirect, even after
    // another repeated parameter.
    let mut pairs = code_request(&client, false);
    pairs.push(("state", "again"));
    pairs.push(("redirect_uri", "https://evil.example/"));
    assert_error_page(&app, &authorize_path(&pairs)).await;
    // A client_id that is not ASCII is simply unknown.
    assert_error_page(
        &app,
        &authorize_path(&[
            ("client_id", "é"),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
        ]),
    )
    .await;
}

#[tokio::test]
async fn redirect_uri_may_be_omitted_only_when_exactly_one_is_registered() {
    let app = spawn_app().await;
    let one = register(&app, Spec::confidential()).await;
    let two = register(
        &app,
        Spec {
            uris: vec![CALLBACK, "https://example-app.com/other"],
            ..Spec::confidential()
        },
    )
    .await;
    app.sign_in_as("alice", Role::User).await;
    let omit = |c: &Client| {
        authorize_path(&[
            ("response_type", "code"),
            ("client_id", &c.id),
            ("state", "abc123"),
        ])
    };
    assert_error_page(&app, &omit(&two)).await;
    let to = consent(&app, &omit(&one), "allow", "matomo:read").await;
    let code = param(&to, "code").unwrap();
    // Omitted at authorization, so it may be omitted at the token endpoint.
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &one.id),
            ("client_secret", one.secret()),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn loopback_redirect_uris_match_on_any_port() {
    let app = spawn_app().await;
    let client = register(
        &app,
        Spec {
            uris: vec!["http://127.0.0.1/callback"],
            ..Spec::public()
        },
    )
    .await;
    app.sign_in_as("alice", Role::User).await;
    let mut pairs = code_request(&client, true);
    pairs[2] = ("redirect_uri", "http://127.0.0.1:53117/callback");
    let to = consent(&app, &authorize_path(&pairs), "allow", "matomo:read").await;
    assert!(
        to.starts_with("http://127.0.0.1:53117/callback?code="),
        "{to}"
    );
    pairs[2] = ("redirect_uri", "http://127.0.0.1:53117/other");
    assert_error_page(&app, &authorize_path(&pairs)).await;
}

#[tokio::test]
async fn later_errors_go_back_to_the_client_with_state_and_iss() {
    let app = spawn_app().await;
    let public = register(&app, Spec::public()).await;
    let confidential = register(&app, Spec::confidential()).await;
    let with = |c: &Client, pkce: bool, change: &[(&'static str, &'static str)]| {
        let mut pairs: Vec<(&str, &str)> = code_request(c, pkce)
            .into_iter()
            .filter(|(k, _)| !change.iter().any(|(n, _)| n == k))
            .collect();
        pairs.extend(change.iter().filter(|(_, v)| !v.is_empty()));
        authorize_path(&pairs)
    };
    assert_redirected_error(
        &app,
        &with(&confidential, false, &[("response_type", "token")]),
        "unsupported_response_type",
    )
    .await;
    assert_redirected_error(
        &app,
        &with(&confidential, false, &[("response_type", "")]),
        "invalid_request",
    )
    .await;
    assert_redirected_error(
        &app,
        &with(&confidential, false, &[("scope", "matomo:superuser")]),
        "invalid_scope",
    )
    .await;
    assert_redirected_error(
        &app,
        &with(&confidential, false, &[("scope", "matomo:everything")]),
        "invalid_scope",
    )
    .await;
    // A repeated parameter.
    let mut pairs = code_request(&confidential, false);
    pairs.push(("scope", "matomo:write"));
    assert_redirected_error(&app, &authorize_path(&pairs), "invalid_request").await;
    // PKCE: required for public clients, S256 only, 43 characters.
    let d = assert_redirected_error(&app, &with(&public, false, &[]), "invalid_request").await;
    assert!(d.contains("PKCE"), "{d}");
    let d = assert_redirected_error(
        &app,
        &with(&public, true, &[("code_challenge_method", "plain")]),
        "invalid_request",
    )
    .await;
    assert!(d.contains("S256"), "{d}");
    assert_redirected_error(
        &app,
        &with(&public, true, &[("code_challenge_method", "S257")]),
        "invalid_request",
    )
    .await;
    assert_redirected_error(
        &app,
        &with(&public, true, &[("code_challenge_method", "")]),
        "invalid_request",
    )
    .await;
    assert_redirected_error(
        &app,
        &with(
            &public,
            true,
            &[("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw")],
        ),
        "invalid_request",
    )
    .await;
    // A paused client, and a grant turned off globally.
    sql(
        &app,
        &format!(
            "UPDATE oauth_clients SET status='paused' WHERE client_id='{}'",
            confidential.id
        ),
    );
    assert_redirected_error(
        &app,
        &with(&confidential, false, &[]),
        "unauthorized_client",
    )
    .await;
    sql(&app, "UPDATE oauth_settings SET auth_code_enabled = FALSE");
    assert_redirected_error(&app, &with(&public, true, &[]), "unauthorized_client").await;
}

#[tokio::test]
async fn a_client_without_the_code_grant_is_unauthorized() {
    let app = spawn_app().await;
    let client = register(
        &app,
        Spec {
            grants: vec![GrantType::ClientCredentials],
            ..Spec::confidential()
        },
    )
    .await;
    assert_redirected_error(
        &app,
        &authorize_path(&code_request(&client, false)),
        "unauthorized_client",
    )
    .await;
}

#[tokio::test]
async fn a_visitor_signs_in_and_comes_back_to_the_same_request() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.create_user("alice", Role::User).await;
    let path = format!(
        "/index.php?module=OAuth2&action=authorize&response_type=code&client_id={}&redirect_uri={}&scope=matomo:read&state=abc123",
        client.id, CALLBACK
    );
    let res = app.get(&path).await;
    assert_eq!(res.status(), 303);
    let to_login = location(&res);
    let next = param(&to_login, "next").unwrap();
    assert!(to_login.starts_with("/login?"), "{to_login}");
    assert!(next.starts_with("/oauth2/authorize?"), "{next}");
    let login_page = app.get_html(&to_login).await;
    let csrf = crate::common::csrf_in(&login_page);
    let res = app
        .post_form(
            "/login",
            &csrf,
            &[("login", "alice"), ("password", PASSWORD), ("next", &next)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), next);
    let to = consent(&app, &next, "allow", "matomo:read").await;
    assert_eq!(param(&to, "state").as_deref(), Some("abc123"));
    assert!(param(&to, "code").is_some());
}

#[tokio::test]
async fn the_consent_screen_says_who_asks_for_what_and_cannot_be_framed() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let mut pairs = code_request(&client, false);
    pairs[3] = ("scope", "matomo:read matomo:write");
    let res = app.get(&authorize_path(&pairs)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("x-frame-options").unwrap(), "DENY");
    assert!(
        res.headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let html = res.text().await.unwrap();
    for text in [
        "Analytics app is requesting access to your account",
        "Reads the dashboards",
        "https://example-app.com/",
        "Confidential",
        "alice",
        "alice@example.com",
        "Personal &gt; Authorized applications",
        "Read (view) access to analytics data",
        "Write access for configuration or management actions",
        "asked for up to",
    ] {
        assert!(html.contains(text), "consent screen lacks {text:?}");
    }
    let doc = scraper::Html::parse_document(&html);
    let checked = scraper::Selector::parse("input[name=scope][checked]").unwrap();
    let pre: Vec<_> = doc
        .select(&checked)
        .map(|e| e.value().attr("value").unwrap().to_string())
        .collect();
    assert_eq!(pre, vec!["matomo:read"], "least privileged preselected");
    let allow = scraper::Selector::parse("button[name=decision][value=allow]").unwrap();
    let deny = scraper::Selector::parse("button[name=decision][value=deny]").unwrap();
    assert!(doc.select(&allow).next().is_some() && doc.select(&deny).next().is_some());
}

#[tokio::test]
async fn deny_sends_access_denied_and_allow_sends_a_code_both_audited() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let path = authorize_path(&code_request(&client, false));
    let to = consent(&app, &path, "deny", "matomo:read").await;
    assert_eq!(param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&to, "state").as_deref(), Some("abc123"));
    assert_eq!(param(&to, "iss").as_deref(), Some(app.address.as_str()));
    let to = consent(&app, &path, "allow", "matomo:read").await;
    assert!(param(&to, "code").unwrap().len() >= 43);
    let actions = app.audit_actions();
    assert!(
        actions.contains(&"consent.denied".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"consent.granted".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn consent_is_remembered_for_the_same_or_a_narrower_scope_until_it_is_revoked() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let mut pairs = code_request(&client, false);
    pairs[3] = ("scope", "matomo:write");
    let write = authorize_path(&pairs);
    consent(&app, &write, "allow", "matomo:write").await;
    // Same scope, then a narrower one: straight back with a code.
    for path in [write.clone(), authorize_path(&code_request(&client, false))] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 303, "{path}");
        assert!(param(&location(&res), "code").is_some());
    }
    // A wider scope asks again, alone or beside a covered one; so does prompt=consent.
    pairs[3] = ("scope", "matomo:admin");
    assert_eq!(app.get(&authorize_path(&pairs)).await.status(), 200);
    pairs[3] = ("scope", "matomo:read matomo:admin");
    assert_eq!(app.get(&authorize_path(&pairs)).await.status(), 200);
    let mut prompt = code_request(&client, false);
    prompt.push(("prompt", "consent"));
    assert_eq!(app.get(&authorize_path(&prompt)).await.status(), 200);
    // Revoking the consent brings the screen back.
    sql(&app, "DELETE FROM oauth_consents");
    assert_eq!(app.get(&write).await.status(), 200);
}

#[tokio::test]
async fn trusted_clients_skip_the_screen() {
    let app = spawn_app().await;
    let client = register(
        &app,
        Spec {
            trusted: true,
            ..Spec::confidential()
        },
    )
    .await;
    app.sign_in_as("alice", Role::User).await;
    let res = app
        .get(&authorize_path(&code_request(&client, false)))
        .await;
    assert_eq!(res.status(), 303);
    assert!(param(&location(&res), "code").is_some());
}

#[tokio::test]
async fn superuser_scope_needs_a_superuser_to_approve() {
    let app = spawn_app().await;
    sql(
        &app,
        "UPDATE oauth_settings SET allowed_scopes = 'matomo:read matomo:write matomo:admin matomo:superuser'",
    );
    let client = register(
        &app,
        Spec {
            scopes: vec![Scope::Read, Scope::Superuser],
            ..Spec::confidential()
        },
    )
    .await;
    app.sign_in_as("alice", Role::User).await;
    let mut pairs = code_request(&client, false);
    pairs[3] = ("scope", "matomo:superuser");
    assert_redirected_error(&app, &authorize_path(&pairs), "invalid_scope").await;
    // Offered read and superuser, a plain user sees only read.
    pairs[3] = ("scope", "matomo:read matomo:superuser");
    let html = app.get_html(&authorize_path(&pairs)).await;
    assert!(!html.contains("value=\"matomo:superuser\""));
    assert!(
        html.contains("asked for up to <strong>matomo:superuser</strong>"),
        "the warning names what was requested"
    );
}

#[tokio::test]
async fn a_consent_form_replayed_by_another_user_is_refused_and_issues_nothing() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let html = app
        .get_html(&authorize_path(&code_request(&client, false)))
        .await;
    let (handle, alice_csrf) = consent_form(&html);
    let mallory = app.new_browser();
    mallory.sign_in_as("mallory", Role::User).await;
    let res = mallory
        .post_form(
            "/oauth2/consent",
            &alice_csrf,
            &[
                ("request", &handle),
                ("scope", "matomo:read"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    // With mallory's own token the handle is still not hers.
    let own = mallory.csrf_token("/account/authorized-apps").await;
    let res = mallory
        .post_form(
            "/oauth2/consent",
            &own,
            &[
                ("request", &handle),
                ("scope", "matomo:read"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    use diesel::RunQueryDsl;
    let codes: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT COUNT(*) FROM oauth_authorization_codes)",
    ))
    .get_result(&mut app.conn())
    .unwrap();
    assert_eq!(codes, 0);
}
