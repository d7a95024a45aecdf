use consentry::domain::Role;

use crate::common::{PASSWORD, spawn_app};

#[tokio::test]
async fn sign_in_success_opens_the_console_and_is_audited() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Superuser).await;

    let res = app.login("alice", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/");

    let html = app.get_html("/").await;
    assert!(html.contains("Signed in as <strong>alice</strong>"));
    assert!(html.contains("(superuser)"));
    assert!(html.contains("Sign out"));
    assert!(app.audit_actions().contains(&"login.success".to_string()));
}

#[tokio::test]
async fn wrong_password_and_unknown_login_get_the_same_answer() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;

    let wrong = app.login("alice", "not the password at all").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.unwrap();
    let unknown = app.login("nobody", "not the password at all").await;
    let unknown_status = unknown.status();
    let unknown_body = unknown.text().await.unwrap();

    assert_eq!(wrong_status, 401);
    assert_eq!(unknown_status, 401);
    let message = "Wrong username or password.";
    assert!(wrong_body.contains(message) && unknown_body.contains(message));
    // The typed login is kept in the form either way.
    assert!(wrong_body.contains(r#"value="alice""#));
    // Still not signed in.
    assert_eq!(app.get("/").await.status(), 303);
    let failures = app
        .audit_actions()
        .iter()
        .filter(|a| *a == "login.failure")
        .count();
    assert_eq!(failures, 2);
}

#[tokio::test]
async fn unknown_login_costs_as_much_time_as_a_wrong_password() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let token = app.csrf_token("/login").await;
    let time = |login: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            let start = std::time::Instant::now();
            let res = app
                .post_form(
                    "/login",
                    &token,
                    &[("login", login), ("password", "wrong password here")],
                )
                .await;
            assert_eq!(res.status(), 401);
            start.elapsed()
        }
    };
    // Two of each (the address limit is five).
    let known = time("alice").await + time("alice").await;
    let unknown = time("ghost").await + time("ghost").await;
    // Both run argon2; without the dummy hash the unknown login would answer some forty
    // times faster. The margin absorbs the noise of tests running in parallel.
    assert!(
        unknown * 4 > known,
        "unknown {unknown:?} vs known {known:?}"
    );
}

#[tokio::test]
async fn five_failures_for_a_login_refuse_further_attempts() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    for _ in 0..5 {
        assert_eq!(
            app.login("alice", "wrong password here").await.status(),
            401
        );
    }
    // Even the right password is refused now, with a time to retry.
    let res = app.login("Alice", PASSWORD).await;
    assert_eq!(res.status(), 429);
    let retry: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Too many failed sign-in attempts. Try again after"),
        "{body}"
    );
    assert_eq!(app.get("/").await.status(), 303, "not signed in");
    assert!(app.audit_actions().contains(&"login.throttled".to_string()));
}

#[tokio::test]
async fn five_failures_from_one_address_refuse_other_logins() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    for login in ["a1", "a2", "a3", "a4", "a5"] {
        assert_eq!(app.login(login, "wrong password here").await.status(), 401);
    }
    assert_eq!(app.login("alice", PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn successful_sign_in_clears_the_login_counter() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    for _round in 0..2 {
        for _ in 0..4 {
            assert_eq!(
                app.login("alice", "wrong password here").await.status(),
                401
            );
        }
        assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
        app.logout().await;
    }
}

#[tokio::test]
async fn sign_in_returns_to_the_requested_page_but_never_off_site() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Superuser).await;

    let res = app.get("/admin/audit?x=1").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "/login?next=%2Fadmin%2Faudit%3Fx%3D1"
    );

    let html = app.get_html("/login?next=%2Fadmin%2Faudit%3Fx%3D1").await;
    assert!(
        html.contains(r#"name="next" value="/admin/audit?x=1""#),
        "{html}"
    );
    let token = crate::common::csrf_in(&html);
    let res = app
        .post_form(
            "/login",
            &token,
            &[
                ("login", "alice"),
                ("password", PASSWORD),
                ("next", "/admin/audit?x=1"),
            ],
        )
        .await;
    assert_eq!(res.headers()["location"], "/admin/audit?x=1");

    app.logout().await;
    let token = app.csrf_token("/login").await;
    let res = app
        .post_form(
            "/login",
            &token,
            &[
                ("login", "alice"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(res.headers()["location"], "/");
}

#[tokio::test]
async fn sign_out_ends_the_session_and_a_copied_cookie_stays_dead() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let res = app.login("alice", PASSWORD).await;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("consentry="))
        .expect("session cookie set at sign-in");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: {cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();

    let token = app.csrf_token("/").await;
    let res = app.post_form("/logout", &token, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(app.get("/").await.status(), 303);

    // An attacker who copied the cookie before sign-out cannot use it.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = replay
        .get(app.url("/"))
        .header("Cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    assert!(app.audit_actions().contains(&"logout".to_string()));
}

#[tokio::test]
async fn a_cookie_from_before_sign_in_is_not_a_signed_in_session() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let res = app.get("/login").await;
    let before = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("consentry="))
        .expect("pre-login session cookie for the CSRF token");
    let token = crate::common::csrf_in(&res.text().await.unwrap());
    let res = app
        .post_form(
            "/login",
            &token,
            &[("login", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let other = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = other
        .get(app.url("/"))
        .header("Cookie", before)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "the pre-login cookie must not be signed in"
    );
}
