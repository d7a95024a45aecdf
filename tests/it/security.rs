use consentry::domain::Role;

use crate::common::{PASSWORD, spawn_app};

#[tokio::test]
async fn post_without_or_with_a_wrong_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    app.get("/login").await; // a session with a token exists

    let missing = app
        .client
        .post(app.url("/login"))
        .form(&[("login", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let wrong = app
        .post_form(
            "/login",
            "forged-token",
            &[("login", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(wrong.status(), 403);
    // A POST with no form at all is refused the same way, not as a bad request.
    for body in [
        None,
        Some(("text/plain", "login=alice")),
        Some(("application/json", "{}")),
    ] {
        let mut req = app.client.post(app.url("/login"));
        if let Some((kind, text)) = body {
            req = req.header("Content-Type", kind).body(text);
        }
        assert_eq!(req.send().await.unwrap().status(), 403, "{body:?}");
    }
    assert_eq!(app.get("/").await.status(), 303, "not signed in");
    assert!(!app.audit_actions().contains(&"login.success".to_string()));

    // Signed in, sign-out without the token changes nothing.
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
    let res = app
        .client
        .post(app.url("/logout"))
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.get("/").await.status(), 200, "still signed in");
}

#[tokio::test]
async fn a_token_from_another_session_is_refused() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let other = crate::common::spawn_app().await;
    let foreign = other.csrf_token("/login").await;
    app.get("/login").await;
    let res = app
        .post_form(
            "/login",
            &foreign,
            &[("login", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn cross_site_posts_are_refused_even_with_a_token() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let token = app.csrf_token("/login").await;
    let form = [
        ("csrf_token", token.as_str()),
        ("login", "alice"),
        ("password", PASSWORD),
    ];
    let res = app
        .client
        .post(app.url("/login"))
        .header("Origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .client
        .post(app.url("/login"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A browser behind Referrer-Policy: no-referrer sends Origin: null on same-origin posts.
    let res = app
        .client
        .post(app.url("/login"))
        .header("Origin", "null")
        .header("Sec-Fetch-Site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn html_responses_carry_security_headers() {
    let app = spawn_app().await;
    app.sign_in_as("alice", Role::Superuser).await;
    for path in ["/login", "/", "/admin/audit", "/no-such-page"] {
        let res = app.get(path).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    let css = app.get("/static/css/consentry.css").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["cache-control"], "public, max-age=86400");
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn user_data_is_escaped_in_pages() {
    let app = spawn_app().await;
    let res = app
        .login("<script>alert(1)</script>", "whatever password")
        .await;
    let body = res.text().await.unwrap();
    assert!(!body.contains("<script>alert(1)</script>"));
    assert!(
        body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;"),
        "{body}"
    );
}
