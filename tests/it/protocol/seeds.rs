//! The seed documents' requests, sent with curl exactly as printed (only the host, and the
//! placeholders for client ID, secret, code and refresh token, changed).

use consentry::domain::Role;
use serde_json::Value;

use super::*;
use crate::common::spawn_app;

/// Runs `curl -s -i` with the seed's arguments; returns status, headers (lowercased) and JSON.
fn curl(args: &[String]) -> (u16, String, Value) {
    let out = std::process::Command::new("curl")
        .arg("-s")
        .arg("-i")
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        head.to_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// `curl -X POST '<token URL>' -H 'Content-Type: application/x-www-form-urlencoded' -d ... -d ...`
fn seed_token_request(app: &crate::common::TestApp, data: &[String]) -> (u16, String, Value) {
    let mut args = vec![
        "-X".to_string(),
        "POST".to_string(),
        app.url("/index.php?module=OAuth2&action=token"),
        "-H".to_string(),
        "Content-Type: application/x-www-form-urlencoded".to_string(),
    ];
    for d in data {
        args.push("-d".into());
        args.push(d.clone());
    }
    curl(&args)
}

fn assert_seed_token_response(status: u16, head: &str, body: &Value, with_refresh: bool) {
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(head.contains("pragma: no-cache"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "matomo:read");
    let access = body["access_token"].as_str().unwrap();
    // The seed's token starts eyJhbGciOiJSUzI1NiIsInR5cCI6...: an RS256 JWT.
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            access.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    assert_eq!(body["refresh_token"].is_string(), with_refresh, "{body}");
}

#[tokio::test]
async fn the_confidential_client_flow_of_the_seed_works_verbatim() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    // The seed's "Confidential client" authorization URL, at the Matomo address.
    let path = format!(
        "/index.php?module=OAuth2&action=authorize&response_type=code&client_id={}&redirect_uri=https://example-app.com/oauth/callback&scope=matomo:read&state=abc123",
        client.id
    );
    let to = consent(&app, &path, "allow", "matomo:read").await;
    assert!(
        to.starts_with("https://example-app.com/oauth/callback?code="),
        "{to}"
    );
    assert_eq!(param(&to, "state").as_deref(), Some("abc123"));
    assert_eq!(param(&to, "iss").as_deref(), Some(app.address.as_str()));
    let code = param(&to, "code").unwrap();

    let (status, head, body) = seed_token_request(
        &app,
        &[
            "grant_type=authorization_code".into(),
            format!("client_id={}", client.id),
            format!("client_secret={}", client.secret()),
            "redirect_uri=https://example-app.com/oauth/callback".into(),
            format!("code={code}"),
        ],
    );
    assert_seed_token_response(status, &head, &body, true);

    // "Refresh an access token", confidential client.
    let (status, head, refreshed) = seed_token_request(
        &app,
        &[
            "grant_type=refresh_token".into(),
            format!("client_id={}", client.id),
            format!("client_secret={}", client.secret()),
            format!("refresh_token={}", body["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_seed_token_response(status, &head, &refreshed, true);
    assert_ne!(refreshed["refresh_token"], body["refresh_token"]);
}

#[tokio::test]
async fn the_public_client_pkce_flow_of_the_seed_works_verbatim() {
    let app = spawn_app().await;
    let client = register(&app, Spec::public()).await;
    app.sign_in_as("alice", Role::User).await;
    let path = format!(
        "/index.php?module=OAuth2&action=authorize&response_type=code&client_id={}&redirect_uri=https://example-app.com/oauth/callback&scope=matomo:read&state=abc123&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        client.id
    );
    let to = consent(&app, &path, "allow", "matomo:read").await;
    let code = param(&to, "code").unwrap();
    let (status, head, body) = seed_token_request(
        &app,
        &[
            "grant_type=authorization_code".into(),
            format!("client_id={}", client.id),
            "redirect_uri=https://example-app.com/oauth/callback".into(),
            format!("code={code}"),
            "code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
        ],
    );
    assert_seed_token_response(status, &head, &body, true);

    // "Refresh an access token", public client.
    let (status, head, refreshed) = seed_token_request(
        &app,
        &[
            "grant_type=refresh_token".into(),
            format!("client_id={}", client.id),
            format!("refresh_token={}", body["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_seed_token_response(status, &head, &refreshed, true);
}

#[tokio::test]
async fn the_client_credentials_request_of_the_guide_works_verbatim() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let (status, head, body) = seed_token_request(
        &app,
        &[
            "grant_type=client_credentials".into(),
            format!("client_id={}", client.id),
            format!("client_secret={}", client.secret()),
            "scope=matomo:read".into(),
        ],
    );
    // RFC 6749 §4.4.3: no refresh token for client credentials.
    assert_seed_token_response(status, &head, &body, false);
}
