//! Platform > OAuth 2.0: create, list, pause/resume, edit, regenerate and delete clients.

use consentry::domain::Role;
use diesel::prelude::*;

use super::{
    CALLBACK, NEW_CLIENT, count, create_client, last_event, new_client_form, post_button,
    save_client, superuser_app,
};
use crate::common::{FormData, PASSWORD, TestApp, spawn_app, text_of};
use crate::protocol::{self, Client, active, introspect, location, token};

const LIST: &str = "/admin/oauth2/clients";

fn client_row(app: &TestApp, id: &str) -> (String, String, String, Option<Vec<u8>>, String) {
    use consentry::db::schema::oauth_clients::dsl as c;
    c::oauth_clients
        .filter(c::client_id.eq(id))
        .select((
            c::name,
            c::client_type,
            c::status,
            c::secret_hash,
            c::scopes,
        ))
        .first(&mut app.conn())
        .unwrap()
}

async fn client_credentials(
    app: &TestApp,
    id: &str,
    secret: &str,
    scope: &str,
) -> (u16, serde_json::Value) {
    token(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", scope),
        ],
    )
    .await
}

fn as_client(id: &str, secret: &str) -> Client {
    Client {
        id: id.into(),
        secret: Some(secret.into()),
    }
}

#[tokio::test]
async fn a_confidential_client_gets_a_secret_shown_once_that_works_and_is_stored_as_a_hash() {
    let app = superuser_app().await;
    let form = new_client_form(&app, "Analytics app").await.set_all(
        "grant_types",
        &["authorization_code", "client_credentials", "refresh_token"],
    );
    // Keep the cookie that carries the secret, to replay it like a second tab would.
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 303);
    let credentials = location(&res);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let id = credentials.split('/').nth(4).unwrap().to_string();
    let html = app.page(&credentials).await;
    let secret = text_of(&html, "#client-secret").expect("the secret, once");
    assert_eq!(secret.len(), 64);
    let replayed = reqwest::Client::new()
        .get(app.url(&credentials))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 200, "the replayed session is signed in");
    let replayed = replayed.text().await.unwrap();
    assert!(replayed.contains("no longer available"));
    assert!(
        !replayed.contains(&secret),
        "a replayed cookie shows nothing"
    );
    // Gone on reload.
    let html = app.page(&credentials).await;
    assert!(!html.contains(&secret));
    assert!(html.contains("no longer available"));
    // Stored only as a hash, never as the secret.
    let (name, kind, status, hash, scopes) = client_row(&app, &id);
    assert_eq!(
        (name.as_str(), kind.as_str(), status.as_str()),
        ("Analytics app", "confidential", "active")
    );
    assert_eq!(scopes, "matomo:read");
    let hash = hash.expect("a hash");
    assert_eq!(hash.len(), 32);
    assert!(!String::from_utf8_lossy(&hash).contains(&secret));
    // Nor on any console page.
    for page in [
        LIST.to_string(),
        format!("{LIST}/{id}"),
        format!("{LIST}/{id}/edit"),
    ] {
        assert!(!app.page(&page).await.contains(&secret), "{page}");
    }
    let (status, body) = client_credentials(&app, &id, &secret, "matomo:read").await;
    assert_eq!(status, 200, "{body}");
    let (actor, details, ip) = last_event(&app, "client.created");
    assert_eq!(actor, "root1");
    assert_eq!(details["name"], "Analytics app");
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert!(!details.to_string().contains(&secret));
}

#[tokio::test]
async fn a_public_client_has_no_secret_and_must_use_pkce() {
    let app = superuser_app().await;
    let form = new_client_form(&app, "Mobile app")
        .await
        .set("client_type", "public")
        .set(
            "redirect_uris",
            "http://127.0.0.1:8765/callback\nhttp://[::1]/cb\nhttps://example-app.com/oauth/callback",
        );
    let (id, secret) = create_client(&app, form).await;
    assert_eq!(secret, None);
    let html = app.page(&format!("{LIST}/{id}")).await;
    assert!(
        text_of(&html, ".flash")
            .unwrap()
            .contains("public client was created")
    );
    assert!(html.contains("Public (PKCE required)"));
    assert!(html.contains("http://127.0.0.1:8765/callback"));
    let (_, kind, _, hash, _) = client_row(&app, &id);
    assert_eq!((kind.as_str(), hash), ("public", None));
}

#[tokio::test]
async fn every_create_rule_is_enforced_with_a_field_message_and_nothing_is_created() {
    let app = superuser_app().await;
    let long_name = "n".repeat(65);
    let long_description = "d".repeat(256);
    // (fields to change, the field whose message is expected, a part of that message)
    type Case<'a> = (Vec<(&'a str, Vec<&'a str>)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("name", vec![""])], "name", "1 to 64"),
        (vec![("name", vec![&long_name])], "name", "1 to 64"),
        (
            vec![("description", vec![&long_description])],
            "description",
            "255",
        ),
        (
            vec![("client_type", vec!["service"])],
            "client_type",
            "confidential or public",
        ),
        (
            vec![
                ("client_type", vec!["public"]),
                ("grant_types", vec!["client_credentials"]),
            ],
            "grant_types",
            "confidential clients only",
        ),
        (
            vec![("grant_types", vec![])],
            "grant_types",
            "at least one grant",
        ),
        (vec![("scopes", vec![])], "scopes", "at least one"),
        (
            vec![("scopes", vec!["matomo:superuser"])],
            "scopes",
            "not allowed in General settings",
        ),
        (
            vec![("redirect_uris", vec!["http://example-app.com/cb"])],
            "redirect_uris",
            "https://",
        ),
        (
            vec![("redirect_uris", vec!["https://example-app.com/cb#x"])],
            "redirect_uris",
            "fragment",
        ),
        (
            vec![("redirect_uris", vec!["https://*.example-app.com/cb"])],
            "redirect_uris",
            "wildcard",
        ),
        (
            vec![("redirect_uris", vec!["/relative/cb"])],
            "redirect_uris",
            "absolute",
        ),
        (
            vec![("access_token_lifetime", vec!["59"])],
            "access_token_lifetime",
            "from 60 to 86400",
        ),
        (
            vec![
                ("access_token_lifetime", vec!["7200"]),
                ("refresh_token_lifetime", vec!["3600"]),
            ],
            "refresh_token_lifetime",
            "at least the access token lifetime",
        ),
        (
            vec![(
                "post_logout_redirect_uris",
                vec!["http://example-app.com/signed-out"],
            )],
            "post_logout_redirect_uris",
            "https://",
        ),
        (
            vec![("redirect_uris", vec![""])],
            "redirect_uris",
            "at least one redirect URI",
        ),
        (
            vec![("homepage_url", vec!["javascript:alert(1)"])],
            "homepage_url",
            "http:// or https://",
        ),
        (
            vec![("icon_url", vec!["ftp://example.com/i.png"])],
            "icon_url",
            "http:// or https://",
        ),
        (
            vec![("password", vec!["not my password"])],
            "password",
            "incorrect",
        ),
        (
            vec![("password", vec![""])],
            "password",
            "Enter your password",
        ),
    ];
    for (changes, field, message) in cases {
        let mut form = new_client_form(&app, "Rule check").await;
        for (name, values) in &changes {
            form = form.set_all(name, values);
        }
        let res = app.submit(&form).await;
        assert_eq!(res.status(), 422, "{changes:?}");
        let html = res.text().await.unwrap();
        crate::common::assert_valid_html(&html);
        let error = text_of(&html, &format!("#{field}-error"))
            .unwrap_or_else(|| panic!("a message for {field} after {changes:?}"));
        assert!(error.contains(message), "{changes:?}: {error}");
        // What was typed comes back, except the password.
        let again = FormData::from_page(&html, NEW_CLIENT);
        if let Some((name, values)) = changes.first()
            && *name != "password"
            && *name != "grant_types"
            && *name != "scopes"
            && *name != "client_type"
        {
            assert_eq!(again.get(name).unwrap_or(""), values[0], "{name} kept");
        }
        assert_eq!(again.get("password"), Some(""));
    }
    assert_eq!(count(&app, "SELECT id FROM oauth_clients"), 0);
    assert!(!app.audit_actions().contains(&"client.created".to_string()));
    assert!(app.audit_actions().contains(&"reauth.failure".to_string()));
}

#[tokio::test]
async fn the_list_shows_every_column_filters_searches_and_pages_fifty_at_a_time() {
    let app = superuser_app().await;
    let (id, _) = create_client(&app, new_client_form(&app, "Zeta dashboard").await).await;
    let html = app.page(LIST).await;
    for text in [
        "Zeta dashboard",
        "Active",
        "Confidential",
        "Authorisation code, Refresh token",
        &id,
        CALLBACK,
        "matomo:read",
        "Create new client",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert_eq!(
        text_of(&html, "#authorize-url").unwrap(),
        app.url("/index.php?module=OAuth2&action=authorize")
    );
    assert_eq!(
        text_of(&html, "#token-url").unwrap(),
        app.url("/index.php?module=OAuth2&action=token")
    );
    assert!(html.contains(r#"aria-label="Pause Zeta dashboard""#));
    assert!(html.contains(r#"aria-label="Edit Zeta dashboard""#));
    assert!(html.contains(r#"aria-label="Delete Zeta dashboard""#));
    // 120 more, 30 of them paused, straight into the table.
    let values: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "('{:032x}', 'Bulk {i:03}', 'confidential', 'client_credentials', 'matomo:read', '[]', '{}', NOW(6), NOW(6))",
                i + 1,
                if i < 30 { "paused" } else { "active" }
            )
        })
        .collect();
    protocol::sql(
        &app,
        &format!(
            "INSERT INTO oauth_clients (client_id, name, client_type, grant_types, scopes, redirect_uris, status, created_at, updated_at) VALUES {}",
            values.join(",")
        ),
    );
    let rows = |html: &str| {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("table.clients tbody tr th").unwrap();
        doc.select(&sel)
            .map(|e| e.text().collect::<String>())
            .collect::<Vec<_>>()
    };
    let page1 = app.page(LIST).await;
    assert_eq!(rows(&page1).len(), 50);
    assert!(page1.contains("121 clients, page 1 of 3"));
    let page3 = app.page(&format!("{LIST}?page=3")).await;
    assert_eq!(rows(&page3).len(), 21);
    assert_eq!(rows(&page3).last().unwrap(), "Zeta dashboard");
    let paused = app.page(&format!("{LIST}?status=paused")).await;
    assert_eq!(rows(&paused).len(), 30);
    assert!(paused.contains(r#"aria-label="Resume Bulk 000""#));
    assert!(paused.contains("Paused"));
    let search = app.page(&format!("{LIST}?q=zeta")).await;
    assert_eq!(rows(&search), vec!["Zeta dashboard"]);
    let by_id = app.page(&format!("{LIST}?q={}", &id[..12])).await;
    assert_eq!(rows(&by_id), vec!["Zeta dashboard"]);
    // Typed text is matched literally, not as a LIKE pattern.
    let literal = app.page(&format!("{LIST}?q=%25")).await;
    assert_eq!(rows(&literal).len(), 0);
    let combined = app.page(&format!("{LIST}?status=active&q=Bulk%2009")).await;
    assert_eq!(rows(&combined).len(), 10);
    // Nonsense filters fall back to everything instead of failing.
    assert_eq!(
        rows(&app.page(&format!("{LIST}?status=nope&page=x")).await).len(),
        50
    );
}

#[tokio::test]
async fn ten_thousand_clients_list_and_search_quickly() {
    let app = superuser_app().await;
    for chunk in 0..10 {
        let values: Vec<String> = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                format!(
                    "('{n:032x}', 'Client {n:05}', 'confidential', 'client_credentials', 'matomo:read', '[]', 'active', NOW(6), NOW(6))"
                )
            })
            .collect();
        protocol::sql(
            &app,
            &format!(
                "INSERT INTO oauth_clients (client_id, name, client_type, grant_types, scopes, redirect_uris, status, created_at, updated_at) VALUES {}",
                values.join(",")
            ),
        );
    }
    let mut slowest = std::time::Duration::ZERO;
    for path in [
        LIST.to_string(),
        format!("{LIST}?page=200"),
        format!("{LIST}?status=paused"),
        format!("{LIST}?q=Client%2009999"),
        format!("{LIST}?q={:032x}", 4242),
    ] {
        let start = std::time::Instant::now();
        let html = app.get_html(&path).await;
        slowest = slowest.max(start.elapsed());
        assert!(html.contains("client"), "{path}");
    }
    assert!(
        app.page(&format!("{LIST}?page=200"))
            .await
            .contains("Client 09999")
    );
    println!("slowest list page with 10,000 clients: {slowest:?}");
    assert!(slowest < std::time::Duration::from_secs(2), "{slowest:?}");
}

#[tokio::test]
async fn pause_and_resume_apply_to_existing_tokens_and_the_token_endpoint_at_once() {
    let app = superuser_app().await;
    let form = new_client_form(&app, "Exporter").await.set_all(
        "grant_types",
        &["authorization_code", "client_credentials", "refresh_token"],
    );
    let (id, secret) = create_client(&app, form).await;
    let secret = secret.unwrap();
    let client = as_client(&id, &secret);
    // A resource server, allowed to introspect other clients' tokens.
    let observer_form = new_client_form(&app, "Observer")
        .await
        .set("may_introspect_any", "1");
    let (other, other_secret) = create_client(&app, observer_form).await;
    let observer = as_client(&other, &other_secret.unwrap());
    let (_, body) = client_credentials(&app, &id, &secret, "matomo:read").await;
    let machine = body["access_token"].as_str().unwrap().to_string();
    let code = protocol::approved_code(&app, &client, false).await;
    let (_, body) = protocol::redeem(&app, &client, &code).await;
    let user_token = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert!(active(&introspect(&app, &observer, &machine).await));
    assert!(active(&introspect(&app, &observer, &user_token).await));

    let list_page = format!("{LIST}?q=Export");
    let form = app.form(&list_page, &format!("{LIST}/{id}/pause")).await;
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), list_page, "back to the same filtered list");
    let html = app.page(&list_page).await;
    assert!(
        text_of(&html, ".flash")
            .unwrap()
            .contains("Exporter is paused")
    );
    assert!(html.contains(">Paused</span>"));
    // Existing tokens, refresh and new requests are all refused.
    assert!(!active(&introspect(&app, &observer, &machine).await));
    assert!(!active(&introspect(&app, &observer, &user_token).await));
    let (status, body) = client_credentials(&app, &id, &secret, "matomo:read").await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("paused")
    );
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, body) = token(&app, &refresh_form).await;
    assert_eq!(status, 401, "{body}");
    let (actor, _, ip) = last_event(&app, "client.paused");
    assert_eq!(
        (actor.as_str(), ip.as_deref()),
        ("root1", Some("127.0.0.1"))
    );

    let form = app.form(&list_page, &format!("{LIST}/{id}/resume")).await;
    assert_eq!(app.submit(&form).await.status(), 303);
    assert!(active(&introspect(&app, &observer, &machine).await));
    assert!(active(&introspect(&app, &observer, &user_token).await));
    let (status, body) = token(&app, &refresh_form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(last_event(&app, "client.resumed").0, "root1");
    // An outside `back` is never followed.
    let form = app
        .form(&list_page, &format!("{LIST}/{id}/pause"))
        .await
        .set("back", "https://evil.example/");
    assert_eq!(location(&app.submit(&form).await), LIST);
}

#[tokio::test]
async fn editing_keeps_the_id_and_narrowing_revokes_tokens_beyond_the_new_limits() {
    let app = superuser_app().await;
    let form = new_client_form(&app, "Reporter")
        .await
        .set_all(
            "grant_types",
            &["authorization_code", "client_credentials", "refresh_token"],
        )
        .set_all("scopes", &["matomo:read", "matomo:write"]);
    let (id, secret) = create_client(&app, form).await;
    let secret = secret.unwrap();
    let client = as_client(&id, &secret);
    let (_, read) = client_credentials(&app, &id, &secret, "matomo:read").await;
    let (_, write) = client_credentials(&app, &id, &secret, "matomo:write").await;
    let read = read["access_token"].as_str().unwrap().to_string();
    let write = write["access_token"].as_str().unwrap().to_string();

    let edit = format!("{LIST}/{id}/edit");
    let form = app
        .form(&edit, &edit)
        .await
        .set("name", "Reporter v2")
        .set("description", "Now read-only")
        .set_all("scopes", &["matomo:read"])
        .set("password", PASSWORD);
    assert_eq!(form.get("redirect_uris"), Some(CALLBACK));
    let (same, none) = save_client(&app, &form).await;
    assert_eq!((same.as_str(), none), (id.as_str(), None));
    let html = app.page(&format!("{LIST}/{id}")).await;
    assert!(
        text_of(&html, ".flash")
            .unwrap()
            .contains("1 authorization(s)")
    );
    assert!(html.contains("Reporter v2"));
    assert!(!active(&introspect(&app, &client, &write).await));
    assert!(active(&introspect(&app, &client, &read).await));
    let (status, body) = client_credentials(&app, &id, &secret, "matomo:write").await;
    assert_eq!((status, protocol::error(&body)), (400, "invalid_scope"));
    let (_, details, _) = last_event(&app, "client.edited");
    assert_eq!(details["changed"]["name"]["old"], "Reporter");
    assert_eq!(details["changed"]["name"]["new"], "Reporter v2");
    assert_eq!(details["grants_revoked"], 1);

    // Dropping client credentials revokes the tokens it issued.
    let form = app
        .form(&edit, &edit)
        .await
        .set_all("grant_types", &["authorization_code", "refresh_token"])
        .set("password", PASSWORD);
    save_client(&app, &form).await;
    assert!(!active(&introspect(&app, &client, &read).await));
    let (status, body) = client_credentials(&app, &id, &secret, "matomo:read").await;
    assert_eq!(
        (status, protocol::error(&body)),
        (400, "unauthorized_client")
    );

    // A wrong password changes nothing.
    let form = app
        .form(&edit, &edit)
        .await
        .set("name", "Renamed")
        .set("password", "wrong password");
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        text_of(&html, "#password-error")
            .unwrap()
            .contains("incorrect")
    );
    assert_eq!(
        FormData::from_page(&html, &edit).get("name"),
        Some("Renamed")
    );
    assert_eq!(client_row(&app, &id).0, "Reporter v2");
}

#[tokio::test]
async fn switching_type_drops_or_issues_the_secret() {
    let app = superuser_app().await;
    let (id, secret) = create_client(&app, new_client_form(&app, "Switcher").await).await;
    let secret = secret.unwrap();
    let code = protocol::approved_code(&app, &as_client(&id, &secret), false).await;
    let (_, tokens) = protocol::redeem(&app, &as_client(&id, &secret), &code).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();

    let edit = format!("{LIST}/{id}/edit");
    let form = app
        .form(&edit, &edit)
        .await
        .set("client_type", "public")
        .set("password", PASSWORD);
    assert_eq!(save_client(&app, &form).await.1, None);
    let html = app.page(&format!("{LIST}/{id}")).await;
    assert!(text_of(&html, ".flash").unwrap().contains("now public"));
    let (_, kind, _, hash, _) = client_row(&app, &id);
    assert_eq!((kind.as_str(), hash), ("public", None));
    // The token it held is dead: introspect with another, live client.
    let (other, other_secret) = create_client(&app, new_client_form(&app, "Observer").await).await;
    let observer = as_client(&other, &other_secret.unwrap());
    assert!(!active(&introspect(&app, &observer, &access).await));

    let form = app
        .form(&edit, &edit)
        .await
        .set("client_type", "confidential")
        .set("password", PASSWORD);
    let (_, fresh) = save_client(&app, &form).await;
    let fresh = fresh.expect("a new secret, shown once");
    assert_ne!(fresh, secret);
    let (status, _) = client_credentials(&app, &id, &secret, "matomo:read").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn regenerating_the_secret_shows_the_new_one_once_and_the_old_one_stops_at_once() {
    let app = superuser_app().await;
    let form = new_client_form(&app, "Rotator")
        .await
        .set_all("grant_types", &["client_credentials"])
        .set("redirect_uris", "");
    let (id, old) = create_client(&app, form).await;
    let old = old.unwrap();
    let page = format!("{LIST}/{id}/secret");
    assert!(app.page(&format!("{LIST}/{id}")).await.contains(&page));
    // A wrong password changes nothing.
    let form = app.form(&page, &page).await.set("password", "nope nope");
    assert_eq!(app.submit(&form).await.status(), 422);
    assert_eq!(
        client_credentials(&app, &id, &old, "matomo:read").await.0,
        200
    );

    let form = app.form(&page, &page).await.set("password", PASSWORD);
    let res = app.submit(&form).await;
    assert_eq!(res.status(), 303);
    let html = app.page(&location(&res)).await;
    let new = text_of(&html, "#client-secret").unwrap();
    assert!(html.contains("never be shown again"));
    assert_ne!(new, old);
    assert!(!app.page(&location(&res)).await.contains(&new));
    assert_eq!(
        client_credentials(&app, &id, &old, "matomo:read").await.0,
        401
    );
    assert_eq!(
        client_credentials(&app, &id, &new, "matomo:read").await.0,
        200
    );
    assert_eq!(last_event(&app, "client.secret_regenerated").0, "root1");
}

#[tokio::test]
async fn delete_asks_for_confirmation_with_counts_then_revokes_everything() {
    let app = superuser_app().await;
    let (id, secret) = create_client(&app, new_client_form(&app, "Doomed app").await).await;
    let secret = secret.unwrap();
    let client = as_client(&id, &secret);
    let code = protocol::approved_code(&app, &client, false).await;
    let (_, tokens) = protocol::redeem(&app, &client, &code).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();

    let page = format!("{LIST}/{id}/delete");
    let html = app.page(&page).await;
    assert!(html.contains("Delete Doomed app?"));
    assert!(html.contains("1 active access token<"));
    assert!(html.contains("1 active refresh token<"));
    assert!(html.contains("1 consent<"));
    let form = FormData::from_page(&html, &page).set("password", "wrong password");
    assert_eq!(app.submit(&form).await.status(), 422);
    assert_eq!(count(&app, "SELECT id FROM oauth_clients"), 1);

    let form = FormData::from_page(&html, &page).set("password", PASSWORD);
    let res = app.submit(&form).await;
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, LIST.to_string())
    );
    assert!(
        text_of(&app.page(LIST).await, ".flash")
            .unwrap()
            .contains("Doomed app was deleted")
    );
    assert_eq!(count(&app, "SELECT id FROM oauth_clients"), 0);
    assert_eq!(count(&app, "SELECT jti FROM oauth_access_tokens"), 0);
    assert_eq!(count(&app, "SELECT user_id FROM oauth_consents"), 0);
    let (observer, s) = create_client(&app, new_client_form(&app, "Observer").await).await;
    assert!(!active(
        &introspect(&app, &as_client(&observer, &s.unwrap()), &access).await
    ));
    let (_, details, _) = last_event(&app, "client.deleted");
    assert_eq!(details["access_tokens_revoked"], 1);
    assert_eq!(details["consents_revoked"], 1);
    assert_eq!(app.get(&format!("{LIST}/{id}")).await.status(), 404);
}

#[tokio::test]
async fn support_sees_clients_without_controls_and_every_change_is_refused() {
    let app = spawn_app().await;
    let admin = app.new_browser();
    admin.sign_in_as("root1", Role::Superuser).await;
    let (id, _) = create_client(&admin, new_client_form(&admin, "Watched app").await).await;
    app.sign_in_as("helper", Role::Support).await;
    let list = app.page(LIST).await;
    assert!(list.contains("Watched app"));
    let detail = app.page(&format!("{LIST}/{id}")).await;
    assert!(detail.contains("Watched app"));
    for page in [&list, &detail] {
        for control in [
            "/pause",
            "/resume",
            "/edit",
            "/delete",
            "/secret",
            "clients/new",
        ] {
            assert!(!page.contains(control), "support sees {control}");
        }
        assert!(!page.contains("<form method=\"post\" action=\"/admin"));
    }
    for path in [
        NEW_CLIENT.to_string(),
        format!("{LIST}/{id}/edit"),
        format!("{LIST}/{id}/delete"),
        format!("{LIST}/{id}/secret"),
        format!("{LIST}/{id}/credentials"),
    ] {
        assert_eq!(app.get(&path).await.status(), 403, "GET {path}");
    }
    let token = app.csrf_token(LIST).await;
    for path in [
        NEW_CLIENT.to_string(),
        format!("{LIST}/{id}/edit"),
        format!("{LIST}/{id}/pause"),
        format!("{LIST}/{id}/resume"),
        format!("{LIST}/{id}/delete"),
        format!("{LIST}/{id}/secret"),
    ] {
        let res = app
            .post_form(
                &path,
                &token,
                &[("name", "Hijacked"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(res.status(), 403, "POST {path}");
    }
    let (name, _, status, _, _) = client_row(&app, &id);
    assert_eq!((name.as_str(), status.as_str()), ("Watched app", "active"));
    assert_eq!(
        post_button(&app, LIST, &format!("{LIST}/{id}/pause"))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn plain_users_get_403_on_every_administration_url() {
    let app = spawn_app().await;
    let admin = app.new_browser();
    admin.sign_in_as("root1", Role::Superuser).await;
    let (id, _) = create_client(&admin, new_client_form(&admin, "Hidden app").await).await;
    app.sign_in_as("enduser", Role::User).await;
    for path in [
        LIST.to_string(),
        NEW_CLIENT.to_string(),
        format!("{LIST}/{id}"),
        format!("{LIST}/{id}/edit"),
        format!("{LIST}/{id}/delete"),
        format!("{LIST}/{id}/secret"),
        "/admin/settings/oauth2".into(),
        "/admin/audit".into(),
        "/admin/audit.csv".into(),
    ] {
        assert_eq!(app.get(&path).await.status(), 403, "GET {path}");
    }
    let token = app.csrf_token("/account/authorized-apps").await;
    for path in [
        format!("{LIST}/{id}/pause"),
        format!("{LIST}/{id}/delete"),
        "/admin/settings/oauth2".into(),
    ] {
        assert_eq!(
            app.post_form(&path, &token, &[("password", PASSWORD)])
                .await
                .status(),
            403,
            "POST {path}"
        );
    }
    assert_eq!(client_row(&app, &id).2, "active");
}

#[tokio::test]
async fn unknown_or_malformed_client_ids_are_404() {
    let app = superuser_app().await;
    for path in [
        format!("{LIST}/{:032x}", 7),
        format!("{LIST}/not-a-client"),
        format!("{LIST}/{:032x}/edit", 7),
        format!("{LIST}/{:032x}/delete", 7),
    ] {
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
    }
    assert_eq!(
        post_button(&app, LIST, &format!("{LIST}/{:032x}/pause", 7))
            .await
            .status(),
        404
    );
}
