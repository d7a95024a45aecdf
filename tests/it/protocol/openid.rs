//! OpenID Connect: discovery, the ID token's claims, userinfo, and the authorization
//! request's `prompt`, `max_age`, `login_hint`, `id_token_hint` and `nonce`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consentry::domain::Role;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;
use crate::common::{PASSWORD, spawn_app};

const NONCE: &str = "n-0S6_WzA2Mj";

/// An authorization request for `scope` with PKCE and `extra` parameters.
fn openid_request<'a>(client: &'a Client, scope: &'a str, extra: &[(&'a str, &'a str)]) -> String {
    let mut pairs = code_request(client, true);
    pairs.retain(|(k, _)| *k != "scope");
    pairs.push(("scope", scope));
    pairs.extend_from_slice(extra);
    authorize_path(&pairs)
}

/// Redeems a code with the PKCE verifier.
async fn redeem_pkce(app: &TestApp, client: &Client, code: &str) -> Value {
    let (status, body) = token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("redirect_uri", CALLBACK),
            ("code", code),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Verifies an ID token with the published JWKS as a relying party does: signature,
/// `iss`, `aud` = the client, `typ` JWT, `kid` published.
async fn verify_id_token(app: &TestApp, client: &Client, id_token: &str) -> Value {
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let keys: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the ID token's kid is published")
        .clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[client.id.as_str()]);
    validation.set_issuer(&[app.address.as_str()]);
    jsonwebtoken::decode::<Value>(id_token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .expect("the ID token verifies")
        .claims
}

fn subject_of(app: &TestApp, login: &str) -> String {
    consentry::db::models::users::find_by_login(&mut app.conn(), login)
        .unwrap()
        .unwrap()
        .subject
}

async fn userinfo(app: &TestApp, token: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let res = reqwest::Client::new()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, res.json().await.unwrap())
}

#[tokio::test]
async fn discovery_is_one_document_with_every_required_field() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let oidc = app.get("/.well-known/openid-configuration").await;
    assert_eq!(oidc.status(), 200);
    let oidc: Value = oidc.json().await.unwrap();
    let oauth: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oidc, oauth, "the two documents cannot disagree");
    let base = app.address.as_str();
    assert_eq!(oidc["issuer"], base);
    assert_eq!(oidc["userinfo_endpoint"], format!("{base}/oauth2/userinfo"));
    assert_eq!(oidc["jwks_uri"], format!("{base}/oauth2/jwks"));
    assert_eq!(
        oidc["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        oidc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    for claim in [
        "sub",
        "nonce",
        "auth_time",
        "at_hash",
        "email",
        "preferred_username",
    ] {
        assert!(
            oidc["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&claim.into()),
            "{claim}"
        );
    }
    // Unticking openid on the General settings form takes it out at once.
    sql(
        &app,
        "UPDATE oauth_settings SET allowed_scopes = 'matomo:read matomo:write'",
    );
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["matomo:read", "matomo:write"])
    );
    app.sign_in_as("alice", Role::User).await;
    let res = app
        .get(&openid_request(&client, "openid matomo:read", &[]))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(param(&location(&res), "error").unwrap(), "invalid_scope");
}

#[tokio::test]
async fn an_id_token_carries_the_claims_of_its_scopes_and_survives_a_refresh() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("alice", Role::User).await;
    let signed_in = chrono::Utc::now().timestamp();
    let path = openid_request(
        &client,
        "openid profile email matomo:read",
        &[("nonce", NONCE)],
    );
    let screen = app.get_html(&path).await;
    assert!(screen.contains("Confirm your identity"), "{screen}");
    assert!(screen.contains("Your login name: alice"));
    assert!(screen.contains("Your email address: alice@example.com"));
    let to = consent(&app, &path, "allow", "matomo:read").await;
    let body = redeem_pkce(&app, &client, &param(&to, "code").unwrap()).await;
    assert_eq!(body["scope"], "openid profile email matomo:read");
    let access = body["access_token"].as_str().unwrap();
    let id_token = body["id_token"].as_str().expect("an id_token");
    let claims = verify_id_token(&app, &client, id_token).await;
    let sub = subject_of(&app, "alice");
    assert_eq!(claims["sub"], sub.as_str());
    assert_ne!(claims["sub"], "alice", "not the login, which can change");
    assert_eq!(claims["nonce"], NONCE);
    assert_eq!(claims["azp"], client.id.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], false);
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(
        (auth_time - signed_in).abs() <= 2,
        "{auth_time} vs {signed_in}"
    );
    let digest = Sha256::digest(access.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

    // The access token still calls the API, and userinfo answers the same claims.
    let (status, _, info) = userinfo(&app, access).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], sub.as_str());
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["preferred_username"], "alice");
    let posted = reqwest::Client::new()
        .post(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.json::<Value>().await.unwrap(), info);

    // A refresh: a new ID token, same subject and sign-in, no nonce (§12.2).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (status, refreshed) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let again = verify_id_token(&app, &client, refreshed["id_token"].as_str().unwrap()).await;
    assert_eq!(again["sub"], claims["sub"]);
    assert_eq!(again["auth_time"], claims["auth_time"]);
    assert!(again.get("nonce").is_none());
    assert!(again["iat"].as_i64() > claims["iat"].as_i64());
    let digest = Sha256::digest(refreshed["access_token"].as_str().unwrap().as_bytes());
    assert_eq!(again["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));

    // A refresh that narrows to the Matomo scope alone gets no ID token.
    let (status, narrowed) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
            ("scope", "matomo:read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "matomo:read");
    assert!(narrowed.get("id_token").is_none());
}

#[tokio::test]
async fn openid_alone_identifies_the_user_and_opens_no_api() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("bob", Role::User).await;
    let path = openid_request(&client, "openid", &[]);
    let screen = app.get_html(&path).await;
    assert!(screen.contains("Confirm your identity"));
    assert!(
        !screen.contains("name=\"scope\""),
        "no access level to choose"
    );
    assert!(!screen.contains("bob@example.com</li>"));
    let to = consent(&app, &path, "allow", "").await;
    let body = redeem_pkce(&app, &client, &param(&to, "code").unwrap()).await;
    assert_eq!(body["scope"], "openid");
    let access = body["access_token"].as_str().unwrap();
    let claims = verify_id_token(&app, &client, body["id_token"].as_str().unwrap()).await;
    assert!(claims.get("email").is_none() && claims.get("preferred_username").is_none());
    assert!(claims.get("nonce").is_none(), "none was sent");
    let (status, _, info) = userinfo(&app, access).await;
    assert_eq!(status, 200);
    assert_eq!(info, serde_json::json!({ "sub": subject_of(&app, "bob") }));
    let api = reqwest::Client::new()
        .get(app.url("/api/API.getConsentryVersion"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    assert!(
        api.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // An access level sent anyway is refused: none was offered.
    let html = app
        .get_html(&openid_request(&client, "openid", &[("prompt", "consent")]))
        .await;
    let (handle, csrf) = consent_form(&html);
    let res = app
        .post_form(
            "/oauth2/consent",
            &csrf,
            &[
                ("request", &handle),
                ("scope", "matomo:read"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn userinfo_refuses_as_rfc_6750_says() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let res = reqwest::get(app.url("/oauth2/userinfo")).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (status, headers, body) = userinfo(&app, "not-a-token").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // A client-credentials token has no openid and no user to describe.
    let (_, cc) = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
        ],
    )
    .await;
    let (status, headers, body) = userinfo(&app, cc["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "insufficient_scope");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"openid\"")
    );
    let res = reqwest::get(app.url("/oauth2/userinfo?access_token=x"))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Client credentials cannot ask for openid at all.
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", client.secret()),
            ("scope", "openid matomo:read"),
        ],
    )
    .await;
    assert_eq!((status, error(&body)), (400, "invalid_scope"));
}

#[tokio::test]
async fn prompt_none_answers_instead_of_showing_a_page() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    let silent = openid_request(&client, "openid matomo:read", &[("prompt", "none")]);
    let res = app.get(&silent).await;
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(param(&to, "error").unwrap(), "login_required");
    assert_eq!(param(&to, "state").unwrap(), "abc123");
    assert_eq!(param(&to, "iss").unwrap(), app.address);

    app.sign_in_as("carol", Role::User).await;
    let to = location(&app.get(&silent).await);
    assert_eq!(param(&to, "error").unwrap(), "consent_required");

    // Once approved, prompt=none comes straight back with a code.
    let path = openid_request(&client, "openid matomo:read", &[]);
    let to = consent(&app, &path, "allow", "matomo:read").await;
    let body = redeem_pkce(&app, &client, &param(&to, "code").unwrap()).await;
    let id_token = body["id_token"].as_str().unwrap().to_string();
    let hinted = openid_request(
        &client,
        "openid matomo:read",
        &[("prompt", "none"), ("id_token_hint", &id_token)],
    );
    let to = location(&app.get(&hinted).await);
    assert!(param(&to, "code").is_some(), "{to}");

    // The hint names carol; with dave signed in, prompt=none cannot switch users.
    let other = app.new_browser();
    other.sign_in_as("dave", Role::User).await;
    let to = consent(&other, &path, "allow", "matomo:read").await;
    assert!(param(&to, "code").is_some());
    let to = location(&other.get(&hinted).await);
    assert_eq!(param(&to, "error").unwrap(), "login_required");

    // Anything but one of our ID tokens for this client is not a hint.
    for (name, value) in [
        ("id_token_hint", "eyJhbGciOiJub25lIn0.e30."),
        ("id_token_hint", body["access_token"].as_str().unwrap()),
        ("prompt", "none login"),
        ("prompt", "sideways"),
        ("max_age", "-1"),
    ] {
        let to = location(
            &app.get(&openid_request(&client, "openid", &[(name, value)]))
                .await,
        );
        assert_eq!(
            param(&to, "error").as_deref(),
            Some("invalid_request"),
            "{name}={value}"
        );
    }
    let long_nonce = "n".repeat(256);
    let to = location(
        &app.get(&openid_request(
            &client,
            "openid",
            &[("nonce", &long_nonce)],
        ))
        .await,
    );
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    // The implicit and hybrid flows stay refused.
    for response_type in ["id_token", "code id_token", "token"] {
        let mut pairs = code_request(&client, true);
        pairs.retain(|(k, _)| *k != "response_type");
        pairs.push(("response_type", response_type));
        let to = location(&app.get(&authorize_path(&pairs)).await);
        assert_eq!(
            param(&to, "error").as_deref(),
            Some("unsupported_response_type")
        );
    }
}

/// Follows a redirect to the sign-in page, signs in there and returns where it leads.
async fn sign_in_again(app: &TestApp, sign_in_page: &str, login: &str) -> String {
    assert!(sign_in_page.starts_with("/login?"), "{sign_in_page}");
    let html = app.get_html(sign_in_page).await;
    let form = crate::common::FormData::from_page(&html, "/login");
    assert_eq!(
        form.get("login"),
        Some(login),
        "the login field is filled in"
    );
    let res = app.submit(&form.set("password", PASSWORD)).await;
    assert_eq!(res.status(), 303);
    location(&res)
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_a_fresh_sign_in_once() {
    let app = spawn_app().await;
    let mut spec = Spec::confidential();
    spec.trusted = true;
    let client = register(&app, spec).await;
    app.sign_in_as("erin", Role::User).await;
    let first_sign_in = chrono::Utc::now().timestamp();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    // max_age that the session meets: no page at all (a trusted client).
    let to = location(
        &app.get(&openid_request(&client, "openid", &[("max_age", "3600")]))
            .await,
    );
    assert!(param(&to, "code").is_some(), "{to}");

    for extra in [("prompt", "login"), ("max_age", "0")] {
        let res = app.get(&openid_request(&client, "openid", &[extra])).await;
        assert_eq!(res.status(), 303);
        let back = sign_in_again(&app, &location(&res), "erin").await;
        assert!(back.starts_with("/oauth2/authorize?"), "{back}");
        // Back at the request: answered at once, not sent to sign in a second time.
        let res = app.get(&back).await;
        let to = location(&res);
        assert!(to.starts_with(CALLBACK), "{extra:?}: {to}");
        let body = redeem_pkce(&app, &client, &param(&to, "code").unwrap()).await;
        let claims = verify_id_token(&app, &client, body["id_token"].as_str().unwrap()).await;
        assert!(
            claims["auth_time"].as_i64().unwrap() > first_sign_in,
            "{extra:?}: auth_time is the new sign-in"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    // prompt=none cannot ask for the sign-in max_age needs.
    let to = location(
        &app.get(&openid_request(
            &client,
            "openid",
            &[("max_age", "0"), ("prompt", "none")],
        ))
        .await,
    );
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));

    // login_hint fills in the sign-in form of a new browser.
    let stranger = app.new_browser();
    let res = stranger
        .get(&openid_request(
            &client,
            "openid",
            &[("login_hint", "erin")],
        ))
        .await;
    let page = location(&res);
    let back = sign_in_again(&stranger, &page, "erin").await;
    let to = location(&stranger.get(&back).await);
    assert!(param(&to, "code").is_some(), "{to}");
}

const SIGNED_OUT: &str = "https://example-app.com/signed-out";

fn logout_path(pairs: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/oauth2/logout?{query}")
}

async fn signed_in(app: &TestApp) -> bool {
    app.get("/account/security").await.status() == 200
}

/// Signs `login` in (creating them the first time) and returns an ID token for `client`.
async fn id_token_for(app: &TestApp, client: &Client, login: &str) -> String {
    if app.login(login, PASSWORD).await.status() != 303 {
        app.sign_in_as(login, Role::User).await;
    }
    let path = openid_request(client, "openid", &[]);
    let res = app.get(&path).await;
    let to = if res.status() == 303 {
        location(&res)
    } else {
        consent(app, &path, "allow", "").await
    };
    let body = redeem_pkce(app, client, &param(&to, "code").unwrap()).await;
    body["id_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn logout_ends_the_session_and_returns_only_to_a_registered_uri() {
    let app = spawn_app().await;
    let mut spec = Spec::confidential();
    spec.post_logout_uris = vec![SIGNED_OUT];
    let client = register(&app, spec).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{}/oauth2/logout", app.address)
    );

    // Refused on a page, the user still signed in: a URI not registered exactly, one
    // without a client to hold it, a hint that is not our ID token.
    let hint = id_token_for(&app, &client, "frank").await;
    for pairs in [
        vec![
            ("id_token_hint", hint.as_str()),
            (
                "post_logout_redirect_uri",
                "https://example-app.com/signed-out/",
            ),
        ],
        vec![
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![("post_logout_redirect_uri", SIGNED_OUT)],
        vec![
            ("id_token_hint", &hint[..hint.len() - 2]),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ],
        vec![
            ("id_token_hint", hint.as_str()),
            ("client_id", "someone-else"),
        ],
    ] {
        let res = app.get(&logout_path(&pairs)).await;
        assert_eq!(res.status(), 400, "{pairs:?}");
        assert!(res.headers().get("location").is_none());
        assert!(signed_in(&app).await, "{pairs:?}: still signed in");
    }

    // The hint names the signed-in user: signed out at once, back with the state.
    let res = app
        .get(&logout_path(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "af0ifjsldkj"),
        ]))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{SIGNED_OUT}?state=af0ifjsldkj"));
    assert!(!signed_in(&app).await, "the session ended");
    assert_eq!(app.audit_actions().last().unwrap(), "logout");

    // No hint: the user is asked, and the form signs them out.
    app.login("frank", PASSWORD).await;
    let html = app
        .get_html(&logout_path(&[
            ("client_id", &client.id),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ]))
        .await;
    assert!(html.contains("Sign out of Consentry?"), "{html}");
    assert!(signed_in(&app).await, "asking signs nobody out");
    let form = crate::common::FormData::from_page(&html, "/oauth2/logout/confirm");
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), SIGNED_OUT);
    assert!(!signed_in(&app).await);

    // Nobody signed in: straight back, or a page that says so.
    let res = app
        .get(&logout_path(&[
            ("client_id", &client.id),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ]))
        .await;
    assert_eq!(location(&res), SIGNED_OUT);
    let html = app.get_html("/oauth2/logout").await;
    assert!(html.contains("You are signed out"));
}

#[tokio::test]
async fn dynamic_registration_takes_post_logout_uris_and_identity_scopes() {
    let app = spawn_app().await;
    crate::registration::enable(&app, "open");
    let (status, _, body) = crate::registration::register(
        &app,
        None,
        &serde_json::json!({
            "client_name": "Relying party",
            "redirect_uris": [CALLBACK],
            "post_logout_redirect_uris": [SIGNED_OUT],
            "scope": "openid email matomo:read",
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scope"], "openid email matomo:read");
    assert_eq!(
        body["post_logout_redirect_uris"],
        serde_json::json!([SIGNED_OUT])
    );
    let (status, _, body) = crate::registration::register(
        &app,
        None,
        &serde_json::json!({
            "redirect_uris": [CALLBACK],
            "post_logout_redirect_uris": ["http://example-app.com/out"],
        }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_client_metadata");
}

#[tokio::test]
async fn editing_a_client_keeps_its_openid_grants_within_the_new_limits() {
    let app = spawn_app().await;
    let client = register(&app, Spec::confidential()).await;
    app.sign_in_as("gina", Role::User).await;
    let mut tokens = Vec::new();
    for scope in ["openid email matomo:read", "openid"] {
        let path = openid_request(&client, scope, &[("prompt", "consent")]);
        let choice = if scope == "openid" { "" } else { "matomo:read" };
        let to = consent(&app, &path, "allow", choice).await;
        tokens.push(redeem_pkce(&app, &client, &param(&to, "code").unwrap()).await);
    }
    // The owner renames the client and narrows it to matomo:read: both grants stay.
    let owner = app.new_browser();
    assert_eq!(owner.login("owner", PASSWORD).await.status(), 303);
    let edit = format!("/admin/oauth2/clients/{}/edit", client.id);
    let form = owner
        .form(&edit, &edit)
        .await
        .set("name", "Renamed app")
        .set_all("scopes", &["matomo:read"])
        .set("password", PASSWORD);
    assert_eq!(owner.submit(&form).await.status(), 303);
    for body in &tokens {
        let token = body["access_token"].as_str().unwrap();
        assert!(active(&introspect(&app, &client, token).await), "{body}");
    }
}

#[tokio::test]
async fn nothing_in_the_url_stands_in_for_a_fresh_sign_in_and_unsupported_requests_say_so() {
    let app = spawn_app().await;
    let mut spec = Spec::confidential();
    spec.trusted = true;
    let client = register(&app, spec).await;
    app.sign_in_as("hana", Role::User).await;
    // The old resume marker, or any made-up one, does not answer prompt=login.
    for forged in ["0", "99999999999"] {
        let res = app
            .get(&openid_request(
                &client,
                "openid",
                &[("prompt", "login"), ("signed_in_after", forged)],
            ))
            .await;
        assert!(location(&res).starts_with("/login?"), "{forged}");
    }
    for (name, value, code) in [
        (
            "request",
            "eyJhbGciOiJub25lIn0.e30.",
            "request_not_supported",
        ),
        (
            "request_uri",
            "https://example-app.com/r",
            "request_uri_not_supported",
        ),
    ] {
        let to = location(
            &app.get(&openid_request(&client, "openid", &[(name, value)]))
                .await,
        );
        assert_eq!(param(&to, "error").as_deref(), Some(code));
    }
    // OpenID Connect requests name their redirect URI.
    let mut pairs = code_request(&client, true);
    pairs.retain(|(k, _)| *k != "scope" && *k != "redirect_uri");
    pairs.push(("scope", "openid"));
    let to = location(&app.get(&authorize_path(&pairs)).await);
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn a_posted_logout_goes_on_as_a_get_and_paused_or_self_registered_clients_do_not_redirect() {
    let app = spawn_app().await;
    let mut spec = Spec::confidential();
    spec.post_logout_uris = vec![SIGNED_OUT];
    let client = register(&app, spec).await;
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/oauth2/logout"))
        .form(&[
            ("client_id", client.id.as_str()),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert!(to.starts_with("/oauth2/logout?"), "{to}");
    assert_eq!(
        param(&to, "post_logout_redirect_uri").as_deref(),
        Some(SIGNED_OUT)
    );

    sql(
        &app,
        &format!(
            "UPDATE oauth_clients SET status = 'paused' WHERE client_id = '{}'",
            client.id
        ),
    );
    let res = app
        .get(&logout_path(&[
            ("client_id", &client.id),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ]))
        .await;
    assert_eq!(res.status(), 400);

    crate::registration::enable(&app, "open");
    let (_, _, body) = crate::registration::register(
        &app,
        None,
        &serde_json::json!({
            "redirect_uris": [CALLBACK],
            "post_logout_redirect_uris": ["https://evil.example/landing"],
        }),
    )
    .await;
    let id = body["client_id"].as_str().unwrap();
    let res = app
        .get(&logout_path(&[
            ("client_id", id),
            ("post_logout_redirect_uri", "https://evil.example/landing"),
        ]))
        .await;
    assert_eq!(
        res.status(),
        400,
        "no redirect for anyone who registers a URI"
    );
}
