//! Missing, malformed, expired, revoked and paused-client tokens; tokens in the URL; formats,
//! unknown methods and bad parameters; the two URL forms and POST.

use consentry::domain::{AccessLevel, Role, Scope};

use super::{answer, api, world};
use crate::protocol;

#[tokio::test]
async fn missing_and_malformed_tokens_get_rfc_6750_challenges() {
    let w = world().await;
    let a = api(&w.app, None, "API.getConsentryVersion", "").await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenge,
        Some(format!(
            "Bearer realm=\"consentry\", resource_metadata=\"{}\"",
            w.app.url("/.well-known/oauth-protected-resource")
        ))
    );
    for (header, status, error) in [
        ("Bearer", 400, Some("invalid_request")),
        ("Bearer ", 400, Some("invalid_request")),
        ("Bearer a b", 400, Some("invalid_request")),
        ("Basic dXNlcjpwYXNz", 401, None),
        ("bearer not.a.jwt", 401, Some("invalid_token")),
    ] {
        let res = reqwest::Client::new()
            .get(
                w.app
                    .url("/index.php?module=API&method=API.getConsentryVersion&format=json"),
            )
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        let a = answer(res).await;
        assert_eq!(a.status, status, "{header}");
        let challenge = a.challenge.unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"consentry\""),
            "{header}: {challenge}"
        );
        match error {
            Some(error) => assert!(
                challenge.contains(&format!("error=\"{error}\"")),
                "{header}: {challenge}"
            ),
            None => assert!(!challenge.contains("error="), "{challenge}"),
        }
    }
    // Without credentials the challenge comes before any judgement of the parameters.
    let a = api(&w.app, None, "Nope.nope", "format=xml").await;
    assert_eq!(a.status, 401);
    let res = reqwest::Client::new()
        .put(w.app.url("/api/API.getConsentryVersion"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, POST");
}

/// `token` with its claims changed by `change`, signed again with this server's own key.
async fn resign(
    app: &crate::common::TestApp,
    token: &str,
    change: impl FnOnce(&mut consentry::oauth::jwt::AccessClaims),
) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let mut claims: consentry::oauth::jwt::AccessClaims = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    change(&mut claims);
    let proto = consentry::oauth::Protocol::new(app.address.clone());
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = diesel::MysqlConnection::establish(url.full()).unwrap();
        consentry::oauth::jwt::sign(&mut conn, &proto.keys, proto.live.generation(), &claims)
            .unwrap()
            .0
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn expired_revoked_paused_and_deleted_tokens_get_invalid_token() {
    let w = world().await;
    let browser = w.user("viewer", Role::User, Some(AccessLevel::View)).await;
    let token = w.token(&browser, Scope::Read).await;
    let call = |t: String| {
        let app = &w.app;
        async move { api(app, Some(&t), "API.getConsentryVersion", "").await }
    };
    // The token endpoint set "last used"; clear it to see the API set it again.
    protocol::sql(&w.app, "UPDATE oauth_clients SET last_used_at = NULL");
    let ok = call(token.clone()).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["value"], env!("CARGO_PKG_VERSION"));
    // Last used is recorded, off the request, within the flush interval (2 s).
    let mut used: Option<chrono::NaiveDateTime> = None;
    for _ in 0..50 {
        used = {
            use consentry::db::schema::oauth_clients::dsl as c;
            use diesel::prelude::*;
            c::oauth_clients
                .filter(c::client_id.eq(&w.client.id))
                .select(c::last_used_at)
                .first(&mut w.app.conn())
                .unwrap()
        };
        if used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(used.is_some(), "last used is written within 5 s");

    // The same token re-signed by this server's key, but expired.
    let expired = resign(&w.app, &token, |claims| {
        claims.iat -= 7200;
        claims.exp = claims.iat + 60;
    })
    .await;
    let a = call(expired).await;
    assert_eq!(a.status, 401);
    assert!(a.challenge.unwrap().contains("invalid_token"));
    // A token for another audience is refused (RFC 9700 §2.3).
    let elsewhere = resign(&w.app, &token, |claims| {
        claims.aud = "https://other-api.example".into();
    })
    .await;
    assert_eq!(call(elsewhere).await.status, 401);

    // Paused, then resumed, then revoked.
    protocol::sql(&w.app, "UPDATE oauth_clients SET status = 'paused'");
    assert_eq!(call(token.clone()).await.status, 401);
    protocol::sql(&w.app, "UPDATE oauth_clients SET status = 'active'");
    assert_eq!(call(token.clone()).await.status, 200);
    let (status, _, _) = protocol::post(
        &w.app,
        "/oauth2/revoke",
        Some((&w.client.id, w.client.secret())),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(call(token).await.status, 401);

    // Deleted client.
    let other = w.token(&browser, Scope::Read).await;
    assert_eq!(call(other.clone()).await.status, 200);
    protocol::sql(&w.app, "DELETE FROM oauth_clients");
    let a = call(other).await;
    assert_eq!(a.status, 401);
    assert!(a.challenge.unwrap().contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn tokens_in_the_url_bad_formats_unknown_methods_and_bad_parameters_are_refused() {
    let w = world().await;
    let browser = w.user("root", Role::Superuser, None).await;
    let token = w.token(&browser, Scope::Admin).await;
    for (query, key) in [
        (format!("token_auth={token}"), "token_auth"),
        (format!("access_token={token}"), "access_token"),
    ] {
        let a = api(&w.app, Some(&token), "API.getConsentryVersion", &query).await;
        assert_eq!(a.status, 400, "{key}");
        assert!(a.challenge.unwrap().contains("invalid_request"));
        assert!(
            a.body["message"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer")
        );
    }
    let res = reqwest::Client::new()
        .get(
            w.app
                .url("/index.php?module=API&method=API.getConsentryVersion&format=xml"),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let a = answer(res).await;
    assert_eq!(a.status, 400);
    assert!(a.body["message"].as_str().unwrap().contains("format"));

    let a = api(&w.app, Some(&token), "SitesManager.dropEverything", "").await;
    assert_eq!(a.status, 400);
    let message = a.body["message"].as_str().unwrap();
    assert!(message.contains("Unknown method") && message.contains("SitesManager.getSiteFromId"));
    assert!(!message.contains(&token));

    for (method, query, parameter) in [
        ("SitesManager.getSiteFromId", "", "idSite"),
        ("SitesManager.getSiteFromId", "idSite=abc", "idSite"),
        ("SitesManager.getSiteFromId", "idSite=-1", "idSite"),
        ("SitesManager.getSiteFromId", "idSite=999", "idSite"),
        ("Annotations.add", "idSite=1&date=24/11/2026&note=x", "date"),
        ("Annotations.add", "idSite=1&date=-1-01-01&note=x", "date"),
        (
            "Annotations.add",
            "idSite=1&date=%2B20000-01-01&note=x",
            "date",
        ),
        ("Annotations.add", "idSite=1&date=2026-11-24", "note"),
        (
            "SitesManager.updateSite",
            "idSite=1&siteName=&urls=https://x.example",
            "siteName",
        ),
        (
            "SitesManager.updateSite",
            "idSite=1&siteName=X&urls=javascript:alert(1)",
            "urls",
        ),
        (
            "UsersManager.setUserAccess",
            "userLogin=ghost&access=view&idSites=1",
            "userLogin",
        ),
        (
            "UsersManager.setUserAccess",
            "userLogin=root&access=owner&idSites=1",
            "access",
        ),
        (
            "UsersManager.setUserAccess",
            "userLogin=root&access=view&idSites=1,x",
            "idSites",
        ),
    ] {
        let a = api(&w.app, Some(&token), method, query).await;
        assert_eq!(a.status, 400, "{method}?{query}: {}", a.body);
        let message = a.body["message"].as_str().unwrap();
        assert!(message.contains(parameter), "{method}?{query}: {message}");
    }
    // A repeated parameter is ambiguous.
    let a = api(
        &w.app,
        Some(&token),
        "SitesManager.getSiteFromId",
        "idSite=1&idSite=2",
    )
    .await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn the_api_answers_at_both_addresses_and_to_post() {
    let w = world().await;
    let browser = w.user("viewer", Role::User, Some(AccessLevel::Write)).await;
    let token = w.token(&browser, Scope::Write).await;
    let res = reqwest::Client::new()
        .get(w.app.url(&format!(
            "/api/SitesManager.getSiteFromId?idSite={}",
            w.site1
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let a = answer(res).await;
    assert_eq!((a.status, a.body["name"].as_str()), (200, Some("Shop")));
    let res = reqwest::Client::new()
        .post(w.app.url("/index.php?module=API&format=json"))
        .bearer_auth(&token)
        .form(&[
            ("method", "Annotations.add"),
            ("idSite", &w.site1.to_string()),
            ("date", "2026-11-24"),
            ("note", "Posted note"),
        ])
        .send()
        .await
        .unwrap();
    let a = answer(res).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["note"], "Posted note");
    let notes = api(
        &w.app,
        Some(&token),
        "Annotations.getAll",
        &format!("idSite={}", w.site1),
    )
    .await;
    assert_eq!(notes.body.as_array().unwrap().len(), 1);
    assert!(
        w.app
            .audit_actions()
            .contains(&"annotation.added".to_string())
    );
}

/// As Matomo does, `module=API`, the method and its parameters may all come in the body.
#[tokio::test]
async fn module_and_method_may_come_in_a_posted_body() {
    let w = world().await;
    let browser = w.user("poster", Role::User, Some(AccessLevel::Write)).await;
    let token = w.token(&browser, Scope::Write).await;
    let post = |form: Vec<(&'static str, String)>| {
        reqwest::Client::new()
            .post(w.app.url("/index.php"))
            .bearer_auth(&token)
            .form(&form)
            .send()
    };
    let site = w.site1.to_string();
    let a = answer(
        post(vec![
            ("module", "API".into()),
            ("method", "Annotations.add".into()),
            ("format", "json".into()),
            ("idSite", site.clone()),
            ("date", "2026-11-25".into()),
            ("note", "From the body".into()),
        ])
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["note"], "From the body");
    // The same rules as anywhere else: no token in the body.
    let a = answer(
        post(vec![
            ("module", "API".into()),
            ("method", "API.getConsentryVersion".into()),
            ("token_auth", "anything".into()),
        ])
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 400);
    // Any other module in a body is still nothing here.
    let res = post(vec![("module", "CoreHome".into())]).await.unwrap();
    assert_eq!(res.status(), 404);
}
