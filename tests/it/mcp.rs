//! An AI assistant speaking the Model Context Protocol connects with no prior configuration:
//! from one failed API call to a working token, with no manual step but the user's Allow.

use base64::Engine;
use consentry::domain::Role;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{FormData, spawn_app};
use crate::protocol::{location, param};

/// The value of `name="..."` in a WWW-Authenticate challenge.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &challenge[start..];
    Some(rest[..rest.find('"')?].to_string())
}

#[tokio::test]
async fn an_mcp_client_discovers_registers_authorizes_calls_refreshes_and_is_stopped_by_a_pause() {
    let app = spawn_app().await;
    // The site's people: a superuser who turns registration on and manages access, and an
    // analyst who will use the assistant.
    let admin = app.new_browser();
    admin.sign_in_as("root1", Role::Superuser).await;
    let settings = "/admin/settings/oauth2";
    let form = admin
        .form(settings, settings)
        .await
        .set("registration_enabled", "1")
        .set("registration_policy", "open")
        .set("confirm_password", crate::common::PASSWORD);
    assert_eq!(admin.submit(&form).await.status(), 303);
    let form = admin
        .form("/admin/websites/new", "/admin/websites/new")
        .await;
    admin
        .submit(&form.set("name", "Shop").set("url", "https://shop.example"))
        .await;
    let user = app.new_browser();
    user.sign_in_as("analyst", Role::User).await;
    let access = FormData::from_page(
        &admin.page("/admin/users/analyst").await,
        "/admin/users/analyst/access",
    )
    .set("access", "view");
    assert_eq!(admin.submit(&access).await.status(), 303);

    // The assistant knows only the API's URL.
    let mcp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api_url = app
        .url("/index.php?module=API&method=SitesManager.getSitesWithAtLeastViewAccess&format=json");
    let res = mcp.get(&api_url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let prm_url = challenge_param(&challenge, "resource_metadata")
        .expect("resource_metadata in the challenge");
    let prm: Value = mcp
        .get(&prm_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resource = prm["resource"].as_str().unwrap().to_string();
    let issuer = prm["authorization_servers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let asm: Value = mcp
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], issuer.as_str());
    assert!(
        asm["code_challenge_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("S256"))
    );
    let registration_endpoint = asm["registration_endpoint"]
        .as_str()
        .expect("registration is advertised");

    // Registers itself as a public client with a loopback redirect.
    let redirect = "http://127.0.0.1:33418/callback";
    let registered: Value = mcp
        .post(registration_endpoint)
        .json(&json!({
            "client_name": "Matomo MCP assistant",
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "matomo:read",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"]
        .as_str()
        .expect("a client_id")
        .to_string();
    assert!(registered.get("client_secret").is_none());

    // Authorization code with PKCE and the resource indicator.
    let verifier = consentry::auth::random_token(48);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let mut authorize = url::Url::parse(asm["authorization_endpoint"].as_str().unwrap()).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "matomo:read")
        .append_pair("state", "mcp-state-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &resource);
    let path = format!("{}?{}", authorize.path(), authorize.query().unwrap());
    // The user's only step: Allow on the consent screen, which warns that the client is unverified.
    let html = user.page(&path).await;
    assert!(html.contains("Matomo MCP assistant") && html.contains("registered itself"));
    let (handle, csrf) = crate::protocol::consent_form(&html);
    let res = user
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
    let back = location(&res);
    assert!(back.starts_with(redirect), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("mcp-state-1"));
    assert_eq!(param(&back, "iss").as_deref(), Some(issuer.as_str()));
    let code = param(&back, "code").unwrap();

    let token_endpoint = asm["token_endpoint"].as_str().unwrap();
    let tokens: Value = mcp
        .post(token_endpoint)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier.as_str()),
            ("resource", resource.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"))
        .to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    // The API call that failed now works.
    let res = mcp.get(&api_url).bearer_auth(&access).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let sites: Value = res.json().await.unwrap();
    assert_eq!(sites[0]["name"], "Shop");

    // Refresh (rotated) and call again.
    let refreshed: Value = mcp
        .post(token_endpoint)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", client_id.as_str()),
            ("resource", resource.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{refreshed}"))
        .to_string();
    assert_ne!(refreshed["refresh_token"].as_str().unwrap(), refresh);
    assert_eq!(
        mcp.get(&api_url)
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A superuser pauses the self-registered client from Manage clients: the next call fails.
    let list = "/admin/oauth2/clients";
    let html = admin.page(list).await;
    assert!(html.contains("Self-registered"));
    let pause = FormData::from_page(&html, &format!("{list}/{client_id}/pause"));
    assert_eq!(admin.submit(&pause).await.status(), 303);
    let res = mcp.get(&api_url).bearer_auth(&access).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}
