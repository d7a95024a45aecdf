//! The token endpoint's rules: client authentication, transport, and each RFC 6749 error.

use consentry::domain::{GrantType, Role};

use super::*;
use crate::common::spawn_app;

#[tokio::test]
async fn client_authentication_failures_are_401_invalid_client_and_look_alike() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let cc = [("grant_type", "client_credentials")];
    // Wrong secret with Basic, with the body, and an unknown client: one answer.
    let (s1, h1, b1) = post(
        &app,
        "/oauth2/token",
        Some((&client.id, "0".repeat(64).as_str())),
        &cc,
    )
    .await;
    let (s2, h2, b2) = post(
        &app,
        "/oauth2/token",
        None,
        &[cc[0], ("client_id", &client.id), ("client_secret", "wrong")],
    )
    .await;
    let (s3, h3, b3) = post(
        &app,
        "/oauth2/token",
        Some(("0123456789abcdef0123456789abcdef", "x")),
        &cc,
    )
    .await;
    for (status, headers, body) in [(s1, &h1, &b1), (s2, &h2, &b2), (s3, &h3, &b3)] {
        assert_eq!(status, 401);
        assert_eq!(error(body), "invalid_client");
        assert!(
            headers
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    }
    assert_eq!(
        b1, b3,
        "unknown client and wrong secret must be indistinguishable"
    );
    assert_eq!(b1, b2);
    // Credentials both ways at once.
    let (status, _, body) = post(
        &app,
        "/oauth2/token",
        Some((&client.id, client.secret())),
        &[cc[0], ("client_secret", client.secret())],
    )
    .await;
    assert_eq!((status, error(&body)), (400, "invalid_request"));
    // A confidential client must authenticate for every grant, refresh included.
    let (status, _, body) = post(
        &app,
        "/oauth2/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", "x"),
        ],
    )
    .await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    // Basic works, and a paused client is told it is paused.
    let (status, _, body) = post(
        &app,
        "/oauth2/token",
        Some((&client.id, client.secret())),
        &cc,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    sql(&app, "UPDATE oauth_clients SET status = 'paused'");
    let (status, _, body) = post(
        &app,
        "/oauth2/token",
        Some((&client.id, client.secret())),
        &cc,
    )
    .await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("paused")
    );
}

#[tokio::test]
async fn basic_credentials_are_form_urldecoded() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    // Percent-encode every character of the secret: still the same secret once decoded.
    let encoded: String = client
        .secret()
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    let (status, _, body) = post(
        &app,
        "/oauth2/token",
        Some((&client.id, &encoded)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn only_form_posts_up_to_16_kib_are_accepted() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let http = reqwest::Client::new();
    let res = http.get(app.url("/oauth2/token")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("allow").unwrap(), "POST");
    let res = http
        .get(app.url("/index.php?module=OAuth2&action=token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let res = http
        .post(app.url("/oauth2/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": client.id, "client_secret": client.secret()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let big = "x".repeat(17 * 1024);
    let (status, body) = token(
        &app,
        &[("grant_type", "client_credentials"), ("padding", &big)],
    )
    .await;
    assert_eq!((status, error(&body)), (400, "invalid_request"));
    // Garbage never makes a 5xx.
    let res = http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"grant_type=%ff%fe&client_id=\x00\xff&&&==".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn each_rfc_6749_error_code_where_it_belongs() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let public = register(&app, Spec::public()).await;
    let id = client.id.as_str();
    let secret = client.secret();
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("client_id", id), ("client_secret", secret)],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", id),
                ("client_secret", secret),
                ("username", "a"),
                ("password", "b"),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "implicit"), ("client_id", id)],
            400,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("client_secret", secret),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("client_secret", secret),
                ("code", "nope"),
                ("redirect_uri", CALLBACK),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", id),
                ("client_secret", secret),
                ("refresh_token", "nope"),
            ],
            400,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", "matomo:superuser"),
            ],
            400,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", "matomo:read matomo:write"),
            ],
            400,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &public.id),
            ],
            400,
            "unauthorized_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_id", id),
                ("client_secret", secret),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![("grant_type", "client_credentials"), ("client_id", "nope")],
            401,
            "invalid_client",
        ),
    ];
    for (form, status, code) in cases {
        let (got, body) = token(&app, &form).await;
        assert_eq!((got, error(&body)), (status, code), "{form:?}: {body}");
        assert!(body["error_description"].is_string());
    }
    // Grants off globally or for the client: unauthorized_client.
    let no_cc = register(
        &app,
        Spec {
            grants: vec![GrantType::AuthorizationCode],
            ..Spec::confidential()
        },
    )
    .await;
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &no_cc.id),
            ("client_secret", no_cc.secret()),
        ],
    )
    .await;
    assert_eq!((status, error(&body)), (400, "unauthorized_client"));
    sql(
        &app,
        "UPDATE oauth_settings SET client_credentials_enabled = FALSE",
    );
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .await;
    assert_eq!((status, error(&body)), (400, "unauthorized_client"));
}

#[tokio::test]
async fn codes_are_bound_to_client_redirect_uri_verifier_and_lifetime() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let other = register(&app, Spec::confidential()).await;
    let public = register(&app, Spec::public()).await;
    app.sign_in_as("alice", Role::User).await;

    // Another client, or another redirect URI: invalid_grant (and the code is not burnt).
    let code = approved_code(&app, &client, false).await;
    let (status, body) = redeem(&app, &other, &code).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("redirect_uri", "https://example-app.com/oauth/callback/"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    // A verifier for a code issued without a challenge: the PKCE downgrade is blocked.
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("redirect_uri", CALLBACK),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    let (status, body) = redeem(&app, &client, &code).await;
    assert_eq!(status, 200, "{body}");

    // PKCE: a missing or wrong verifier fails; the seed's verifier works.
    let code = approved_code(&app, &public, true).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("client_id", public.id.as_str()),
        ("redirect_uri", CALLBACK),
        ("code", code.as_str()),
    ];
    let (status, body) = token(&app, &base).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    let wrong = format!("{}x", &VERIFIER[..42]);
    let (status, body) = token(
        &app,
        &[&base[..], &[("code_verifier", wrong.as_str())]].concat(),
    )
    .await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
    let (status, body) = token(&app, &[&base[..], &[("code_verifier", VERIFIER)]].concat()).await;
    assert_eq!(status, 200, "{body}");

    // An expired code.
    let code = approved_code(&app, &client, false).await;
    sql(
        &app,
        "UPDATE oauth_authorization_codes SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE used_at IS NULL",
    );
    let (status, body) = redeem(&app, &client, &code).await;
    assert_eq!((status, error(&body)), (400, "invalid_grant"));
}

#[tokio::test]
async fn codes_and_refresh_tokens_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let code = approved_code(&app, &client, false).await;
    let (_, body) = redeem(&app, &client, &code).await;
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    #[derive(diesel::QueryableByName)]
    struct Dump {
        #[diesel(sql_type = diesel::sql_types::Text)]
        dump: String,
    }
    use diesel::RunQueryDsl;
    let rows: Vec<Dump> = diesel::sql_query(
        "SELECT CONCAT_WS('|', HEX(code_hash), redirect_uri, scope) AS dump FROM oauth_authorization_codes \
         UNION ALL SELECT CONCAT_WS('|', HEX(token_hash), scope) FROM oauth_refresh_tokens \
         UNION ALL SELECT CONCAT_WS('|', actor, action, details) FROM audit_events",
    )
    .load(&mut app.conn())
    .unwrap();
    let all: String = rows.into_iter().map(|r| r.dump).collect();
    assert!(!all.contains(&code) && !all.contains(&refresh));
}
