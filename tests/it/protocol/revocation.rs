//! Revocation (RFC 7009) and introspection (RFC 7662).

use consentry::domain::Role;

use super::*;
use crate::common::spawn_app;

async fn revoke(
    app: &crate::common::TestApp,
    client: &Client,
    token: &str,
    hint: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let (status, headers, body) = post(
        app,
        "/oauth2/revoke",
        Some((&client.id, client.secret())),
        &form,
    )
    .await;
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    (status, body)
}

#[tokio::test]
async fn revoking_an_access_token_or_a_refresh_token_family() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, t1) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    let at1 = t1["access_token"].as_str().unwrap();
    // A wrong hint does not stop the lookup.
    assert_eq!(
        revoke(&app, &client, at1, Some("refresh_token")).await.0,
        200
    );
    assert!(!active(&introspect(&app, &client, at1).await));
    assert!(active(
        &introspect(&app, &client, t1["refresh_token"].as_str().unwrap()).await
    ));

    let (_, t2) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    assert_eq!(
        revoke(&app, &client, t2["refresh_token"].as_str().unwrap(), None)
            .await
            .0,
        200
    );
    assert!(!active(
        &introspect(&app, &client, t2["access_token"].as_str().unwrap()).await
    ));
    assert!(!active(
        &introspect(&app, &client, t2["refresh_token"].as_str().unwrap()).await
    ));
    assert!(app.audit_actions().contains(&"token.revoked".to_string()));

    // Unknown, garbage and already-revoked tokens: 200 with nothing to say.
    for token in ["nope", "a.b.c", at1] {
        let (status, body) = revoke(&app, &client, token, None).await;
        assert_eq!((status, body), (200, serde_json::Value::Null));
    }
    let (status, body) = revoke(&app, &client, "x", Some("id_token")).await;
    assert_eq!((status, error(&body)), (400, "unsupported_token_type"));
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_token_and_anonymous_callers_are_refused() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let other = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, t) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    for token in [
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    ] {
        assert_eq!(revoke(&app, &other, token, None).await.0, 200);
        assert!(active(&introspect(&app, &client, token).await));
    }
    let (status, _, body) = post(&app, "/oauth2/revoke", None, &[("token", "x")]).await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    let (status, _, body) = post(&app, "/oauth2/introspect", None, &[("token", "x")]).await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
    let res = reqwest::get(app.url("/oauth2/revoke")).await.unwrap();
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn introspection_answers_active_tokens_in_full_and_everything_else_identically() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let public = register(&app, Spec::public()).await;
    app.sign_in_as("alice", Role::User).await;
    let (_, t) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    let at = t["access_token"].as_str().unwrap();
    let info = introspect(&app, &client, at).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["scope"], "matomo:read");
    assert_eq!(info["client_id"], client.id.as_str());
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["username"], "alice");
    assert_eq!(info["token_type"], "Bearer");
    assert_eq!(info["iss"], app.address.as_str());
    assert!(info["exp"].is_i64() && info["iat"].is_i64());

    // Unknown, malformed, revoked and expired: byte-identical answers.
    let mut answers = Vec::new();
    revoke(&app, &client, at, None).await;
    for token in ["nope", "a.b.c", at] {
        let res = reqwest::Client::new()
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&client.id, Some(client.secret()))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        answers.push(res.text().await.unwrap());
    }
    let (_, t2) = redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    sql(
        &app,
        "UPDATE oauth_access_tokens SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    );
    let expired = introspect(&app, &client, t2["access_token"].as_str().unwrap()).await;
    answers.push(expired.to_string());
    assert!(
        answers.iter().all(|a| a == r#"{"active":false}"#),
        "{answers:?}"
    );

    // Public clients cannot introspect.
    let (status, _, body) = post(
        &app,
        "/oauth2/introspect",
        None,
        &[("client_id", &public.id), ("token", "x")],
    )
    .await;
    assert_eq!((status, error(&body)), (401, "invalid_client"));
}
