//! Metadata (RFC 8414), the JWKS and key rotation, and purging.

use consentry::domain::Role;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::*;
use crate::common::spawn_app;
use crate::protocol::lifecycle::run_cli;

#[tokio::test]
async fn metadata_lists_every_endpoint_and_reflects_the_settings() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("cache-control").unwrap(),
        "public, max-age=300"
    );
    let doc: Value = res.json().await.unwrap();
    let base = app.address.as_str();
    assert_eq!(doc["issuer"], base);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/oauth2/authorize")
    );
    assert_eq!(doc["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(doc["revocation_endpoint"], format!("{base}/oauth2/revoke"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{base}/oauth2/introspect")
    );
    assert_eq!(doc["jwks_uri"], format!("{base}/oauth2/jwks"));
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "client_credentials", "refresh_token"])
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!([
            "openid",
            "profile",
            "email",
            "matomo:read",
            "matomo:write",
            "matomo:admin"
        ])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert!(
        doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"client_secret_basic".into())
    );
    sql(
        &app,
        "UPDATE oauth_settings SET client_credentials_enabled = FALSE, allowed_scopes = 'matomo:read'",
    );
    let doc: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(doc["scopes_supported"], serde_json::json!(["matomo:read"]));
}

async fn jwks(app: &crate::common::TestApp) -> Vec<Value> {
    let res = app.get("/oauth2/jwks").await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["keys"]
        .as_array()
        .unwrap()
        .clone()
}

/// Verifies `token` against the published JWKS, as a resource server would.
async fn verify(app: &crate::common::TestApp, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let keys = jwks(app).await;
    let key = keys
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the token's kid is published");
    let kty = match header.alg {
        Algorithm::RS256 => "RSA",
        Algorithm::ES256 => "EC",
        Algorithm::EdDSA => "OKP",
        other => panic!("a token signed with {other:?}"),
    };
    assert_eq!(key["kty"], kty);
    assert_eq!(key["alg"], serde_json::json!(header.alg));
    assert!(key.get("d").is_none(), "no private part");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    let decoding = DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[app.address.as_str()]);
    validation.set_issuer(&[app.address.as_str()]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .expect("signature verifies")
        .claims
}

#[tokio::test]
async fn tokens_verify_with_the_jwks_before_and_after_a_key_rotation() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let cc = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret()),
    ];
    let (_, old) = token(&app, &cc).await;
    let old = old["access_token"].as_str().unwrap().to_string();
    assert_eq!(verify(&app, &old).await["client_id"], client.id.as_str());
    assert_eq!(jwks(&app).await.len(), 1);

    // A rotation publishes the next key first; the current one goes on signing.
    run_cli(&app, &["keys", "rotate"]).await;
    assert_eq!(
        jwks(&app).await.len(),
        2,
        "the next key is published at once"
    );
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    let (_, still) = token(&app, &cc).await;
    assert_eq!(
        kid(still["access_token"].as_str().unwrap()),
        kid(&old),
        "not yet"
    );
    // An hour later (played by moving the switch into the past), the new key signs.
    sql(
        &app,
        "UPDATE signing_keys SET active_from = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE active_from > UTC_TIMESTAMP(6)",
    );
    sql(
        &app,
        "UPDATE signing_keys SET retired_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE retired_at > UTC_TIMESTAMP(6)",
    );
    assert_eq!(jwks(&app).await.len(), 2, "the old key stays published");
    let (_, new) = token(&app, &cc).await;
    let new = new["access_token"].as_str().unwrap().to_string();
    assert_ne!(
        kid(&old),
        kid(&new),
        "new tokens are signed with the new key"
    );
    verify(&app, &old).await;
    verify(&app, &new).await;
    assert!(active(&introspect(&app, &client, &old).await));
    assert!(active(&introspect(&app, &client, &new).await));
    // In an emergency the new key signs at once.
    run_cli(&app, &["keys", "rotate", "--activate-now"]).await;
    assert_eq!(jwks(&app).await.len(), 3);
    let (_, newest) = token(&app, &cc).await;
    let newest = newest["access_token"].as_str().unwrap().to_string();
    assert_ne!(kid(&newest), kid(&new));
    verify(&app, &newest).await;
}

#[tokio::test]
async fn each_signing_algorithm_signs_and_tokens_of_the_previous_one_stay_valid() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let cc = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret()),
    ];
    let (_, first) = token(&app, &cc).await;
    let first = first["access_token"].as_str().unwrap().to_string();
    let mut earlier = vec![first];
    for alg in ["ES256", "EdDSA", "RS256"] {
        run_cli(&app, &["settings", "set", "--signing-alg", alg]).await;
        let (status, body) = token(&app, &cc).await;
        assert_eq!(status, 200, "{body}");
        let t = body["access_token"].as_str().unwrap().to_string();
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(serde_json::json!(header.alg), serde_json::json!(alg));
        verify(&app, &t).await;
        assert!(active(&introspect(&app, &client, &t).await));
        for old in &earlier {
            assert!(
                active(&introspect(&app, &client, old).await),
                "a token signed before the switch to {alg} stays valid until it expires"
            );
            verify(&app, old).await;
        }
        let doc: Value = app
            .get("/.well-known/oauth-authorization-server")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["access_token_signing_alg_values_supported"],
            serde_json::json!([alg])
        );
        earlier.push(t);
    }
    let out = crate::cli::consentry(&app, &["settings", "set", "--signing-alg", "HS256"], "");
    crate::cli::assert_one_line_exit_2(&out, "--signing-alg");
    let out = crate::cli::consentry(&app, &["settings", "show", "--json"], "");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["signing_alg"], "RS256");
    assert_eq!(shown["access_token_lifetime"], 3600);
}

#[tokio::test]
async fn a_forged_or_tampered_token_is_not_active() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let (_, t) = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
        ],
    )
    .await;
    let at = t["access_token"].as_str().unwrap();
    let parts: Vec<&str> = at.split('.').collect();
    // alg=none with the same claims, and a changed payload under the old signature.
    let none = format!(
        "{}.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","typ":"at+jwt"}"#
        ),
        parts[1]
    );
    let mut claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[1])
            .unwrap(),
    )
    .unwrap();
    claims["scope"] = "matomo:admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            claims.to_string()
        ),
        parts[2]
    );
    for bad in [none, tampered] {
        assert!(!active(&introspect(&app, &client, &bad).await));
    }
}

#[tokio::test]
async fn purge_deletes_expired_codes_and_tokens() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    redeem(&app, &client, &approved_code(&app, &client, false).await).await;
    approved_code(&app, &client, false).await;
    sql(
        &app,
        "UPDATE oauth_authorization_codes SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR",
    );
    sql(
        &app,
        "UPDATE oauth_access_tokens SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    );
    sql(
        &app,
        "UPDATE oauth_refresh_tokens SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    );
    sql(
        &app,
        "UPDATE oauth_grants SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
    );
    let out = crate::cli::consentry(&app, &["purge"], "");
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("2 code(s)") && text.contains("1 grant(s)"),
        "{text}"
    );
    use diesel::RunQueryDsl;
    let left: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT COUNT(*) FROM oauth_authorization_codes) + (SELECT COUNT(*) FROM oauth_grants) + (SELECT COUNT(*) FROM oauth_access_tokens) + (SELECT COUNT(*) FROM oauth_refresh_tokens)",
    ))
    .get_result(&mut app.conn())
    .unwrap();
    assert_eq!(left, 0);
}
