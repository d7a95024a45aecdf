//! Protocol edges from the hardening review: who may introspect what, throttled client
//! authentication, the introspection rate, native redirect schemes by allow rule,
//! `prompt=none`, and HEAD on GET routes.

use std::collections::BTreeMap;

use consentry::domain::Role;
use futures_util::future::join_all;
use serde_json::json;

use super::*;
use crate::common::{Options, spawn_app, spawn_app_with};
use crate::registration::{enable, register as self_register};

async fn client_token(app: &TestApp, client: &Client) -> String {
    let (status, _, body) = post(
        app,
        "/oauth2/token",
        Some((&client.id, client.secret())),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn only_the_owner_or_a_resource_server_learns_about_a_token() {
    let app = spawn_app().await;
    let owner = register(&app, Spec::confidential()).await;
    let stranger = register(&app, Spec::confidential()).await;
    let resource_server = register(
        &app,
        Spec {
            may_introspect_any: true,
            ..Spec::confidential()
        },
    )
    .await;
    app.sign_in_as("alice", Role::User).await;
    let machine = client_token(&app, &owner).await;
    let (_, user) = redeem(&app, &owner, &approved_code(&app, &owner, false).await).await;
    let refresh = user["refresh_token"].as_str().unwrap();
    for token in [machine.as_str(), refresh] {
        assert!(active(&introspect(&app, &owner, token).await));
        let seen = introspect(&app, &resource_server, token).await;
        assert!(active(&seen));
        assert_eq!(seen["client_id"], owner.id.as_str());
        // Another client learns nothing, not even the user's login.
        assert_eq!(
            introspect(&app, &stranger, token).await,
            json!({ "active": false })
        );
    }
}

#[tokio::test]
async fn wrong_client_secrets_get_growing_delays_then_429_and_one_counted_audit_row() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let wrong = [("grant_type", "client_credentials")];
    for n in 0..6 {
        let (status, _, body) =
            post(&app, "/oauth2/token", Some((&client.id, "wrong")), &wrong).await;
        assert_eq!(
            (status, error(&body)),
            (401, "invalid_client"),
            "attempt {n}"
        );
    }
    // The sixth failure costs a second: the next wrong secret is refused outright...
    let (status, headers, body) =
        post(&app, "/oauth2/token", Some((&client.id, "wrong")), &wrong).await;
    assert_eq!((status, error(&body)), (429, "too_many_requests"), "{body}");
    assert_eq!(headers["retry-after"], "1");
    // ...at revocation and introspection too, which share the throttle...
    let (status, _, _) = post(
        &app,
        "/oauth2/revoke",
        Some((&client.id, "wrong")),
        &[("token", "x")],
    )
    .await;
    assert_eq!(status, 429);
    // ...while the right secret is never held up by someone else's failures.
    let (status, _, _) = post(
        &app,
        "/oauth2/token",
        Some((&client.id, client.secret())),
        &wrong,
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, body) = post(&app, "/oauth2/token", Some((&client.id, "wrong")), &wrong).await;
    assert_eq!(
        (status, error(&body)),
        (401, "invalid_client"),
        "the wait is over"
    );
    // Seven failures, one row that counts them; the refusals likewise.
    let counted = |action: &str| {
        crate::console::count(
            &app,
            &format!("SELECT id FROM audit_events WHERE action = '{action}'"),
        )
    };
    // (Two rows only if the run straddles a quarter-hour boundary.)
    assert!(counted("client_auth.failure") <= 2);
    assert!(counted("client_auth.throttled") <= 2);
    let repeats = crate::console::count(
        &app,
        "SELECT 1 FROM (SELECT SUM(repeat_count) AS n FROM audit_events \
         WHERE action = 'client_auth.failure') t WHERE n = 7",
    );
    assert_eq!(repeats, 1, "the seven failures are counted");
    // Another address is not held up by these failures.
    let other = reqwest::Client::builder()
        .local_address(Some("127.0.0.9".parse().unwrap()))
        .build()
        .unwrap();
    let res = other
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(client.secret()))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_burst_of_wrong_secrets_gets_at_most_the_free_attempts_answered() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let attempts = (0..30).map(|_| {
        post(
            &app,
            "/oauth2/token",
            Some((&client.id, "wrong secret")),
            &[("grant_type", "client_credentials")],
        )
    });
    let mut statuses = BTreeMap::<u16, usize>::new();
    for (status, _, _) in join_all(attempts).await {
        *statuses.entry(status).or_default() += 1;
    }
    println!("30 parallel wrong secrets: {statuses:?}");
    assert!(
        statuses.get(&401).copied().unwrap_or(0) <= 6,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.get(&401).copied().unwrap_or(0) + statuses.get(&429).copied().unwrap_or(0),
        30
    );
}

#[tokio::test]
async fn introspection_is_rate_limited_per_client() {
    let app = spawn_app_with(Options {
        env: vec![("CONSENTRY_INTROSPECTION_RATE", "5".into())],
        ..Options::default()
    })
    .await;
    let busy = register(&app, Spec::confidential()).await;
    let calm = register(&app, Spec::confidential()).await;
    let token = client_token(&app, &busy).await;
    let mut limited = 0;
    for _ in 0..20 {
        let (status, headers, _) = post(
            &app,
            "/oauth2/introspect",
            Some((&busy.id, busy.secret())),
            &[("token", &token)],
        )
        .await;
        if status == 429 {
            limited += 1;
            assert!(headers.contains_key("retry-after"));
        } else {
            assert_eq!(status, 200);
        }
    }
    assert!(limited >= 10, "{limited} of 20 limited");
    let (status, _, _) = post(
        &app,
        "/oauth2/introspect",
        Some((&calm.id, calm.secret())),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 200, "another client has its own allowance");
}

#[tokio::test]
async fn native_redirect_schemes_are_allowed_by_rule_not_blocked_by_list() {
    let app = spawn_app().await;
    enable(&app, "open");
    let app = &app;
    let attempt = |uri: &'static str| async move {
        sql(app, "DELETE FROM throttle_buckets");
        let body = json!({ "client_name": format!("App for {uri}"), "redirect_uris": [uri], "token_endpoint_auth_method": "none" });
        let (status, _, answer) = self_register(app, None, &body).await;
        (status, answer)
    };
    for uri in [
        "wss://evil.example/cb",
        "intent://cb#Intent;end",
        "jar:https://evil.example/x!/cb",
        "chrome://settings/cb",
        "ms-settings:cb",
        "myapp://cb",
    ] {
        let (status, answer) = attempt(uri).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_redirect_uri")),
            "{uri}: {answer}"
        );
    }
    for uri in [
        "cursor://anysphere.cursor-retrieval/oauth/callback",
        "vscode://vscode.github-authentication/did-authenticate",
        "com.example.app:/oauth/callback",
    ] {
        assert_eq!(attempt(uri).await.0, 201, "{uri}");
    }
    // A scheme listed in General settings is allowed from then on.
    sql(
        app,
        "UPDATE oauth_settings SET allowed_app_schemes = 'cursor vscode myapp'",
    );
    assert_eq!(attempt("myapp://cb").await.0, 201);
}

#[tokio::test]
async fn prompt_none_answers_login_required_or_consent_required_at_the_client() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let mut request = code_request(&client, false);
    request.push(("prompt", "none"));
    let path = authorize_path(&request);
    let res = app.get(&path).await;
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&to, "state").as_deref(), Some("abc123"));
    assert_eq!(param(&to, "iss").as_deref(), Some(app.address.as_str()));
    app.sign_in_as("alice", Role::User).await;
    let to = location(&app.get(&path).await);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("consent_required"),
        "{to}"
    );
    // Once approved, prompt=none comes straight back with a code.
    approved_code(&app, &client, false).await;
    let to = location(&app.get(&path).await);
    assert!(param(&to, "code").is_some(), "{to}");
}

#[tokio::test]
async fn head_is_answered_on_every_get_route() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource",
        "/oauth2/jwks",
        "/login",
    ] {
        let get = http.get(app.url(path)).send().await.unwrap();
        let head = http.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(head.status(), 200, "{path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    let head = http.head(app.url("/oauth2/token")).send().await.unwrap();
    assert_eq!(head.status(), 405);
}
