use consentry::domain::Role;

use crate::common::{Options, PASSWORD, spawn_app, spawn_app_with};

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
    // Two of each: the free tries at a login before any delay.
    let known = time("alice").await + time("alice").await;
    let unknown = time("ghost").await + time("ghost").await;
    // Both run argon2; without the dummy hash the unknown login would answer some forty
    // times faster. The margin absorbs the noise of tests running in parallel.
    assert!(
        unknown * 4 > known,
        "unknown {unknown:?} vs known {known:?}"
    );
}

fn retry_after(res: &reqwest::Response) -> i64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn failures_at_a_login_from_one_address_bring_growing_delays() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let wrong = "wrong password here";
    for _ in 0..3 {
        assert_eq!(app.login("alice", wrong).await.status(), 401);
    }
    // Two free failures; the third costs a second's wait, even for the right password.
    let res = app.login("Alice", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert_eq!(retry_after(&res), 1);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Too many failed sign-in attempts from this address. Try again after"),
        "{body}"
    );
    assert_eq!(app.get("/").await.status(), 303, "not signed in");
    // The next failure doubles the wait.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.login("alice", wrong).await.status(), 401);
    let res = app.login("alice", PASSWORD).await;
    assert_eq!((res.status().as_u16(), retry_after(&res)), (429, 2));
    // Once waited out, the right password signs in and clears the count.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
    app.logout().await;
    for _ in 0..3 {
        assert_eq!(app.login("alice", wrong).await.status(), 401);
    }
    assert!(app.audit_actions().contains(&"login.throttled".to_string()));
}

#[tokio::test]
async fn nobody_can_lock_a_user_out_from_another_address() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let attacker = app.browser_at("127.0.0.2");
    let mut refused = 0;
    for _ in 0..12 {
        match attacker
            .login("alice", "guess guess guess")
            .await
            .status()
            .as_u16()
        {
            401 => {}
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        refused >= 9,
        "the attacker's own address is slowed down: {refused}"
    );
    // The attacker is refused even with the right password while it waits...
    assert_eq!(attacker.login("alice", PASSWORD).await.status(), 429);
    // ...but alice, from her own address, signs in at once, and confirms with her password.
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn one_address_is_limited_across_logins() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let spreader = app.browser_at("127.0.0.3");
    for n in 0..20 {
        let login = format!("guess{n}");
        assert_eq!(
            spreader.login(&login, "wrong password here").await.status(),
            401,
            "{n}"
        );
    }
    let res = spreader.login("alice", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(
        (800..=900).contains(&retry_after(&res)),
        "{}",
        retry_after(&res)
    );
    // Other addresses are unaffected.
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn sixty_parallel_attempts_verify_no_more_than_the_limit() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    let token = app.csrf_token("/login").await;
    let mut tasks = Vec::new();
    for n in 0..60 {
        let (client, url, token) = (app.client.clone(), app.url("/login"), token.clone());
        let password = if n == 30 {
            PASSWORD
        } else {
            "wrong password here"
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("login", "alice"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap()).or_default() += 1;
    }
    // Verified wrong passwords are audited one row each: count them in the database.
    let verified_wrong = app
        .audit_actions()
        .iter()
        .filter(|a| *a == "login.failure")
        .count();
    let wrong = statuses.get(&401).copied().unwrap_or(0);
    let signed_in = statuses.get(&303).copied().unwrap_or(0);
    println!("60 parallel sign-ins: {statuses:?}, verified wrong passwords: {verified_wrong}");
    assert_eq!(verified_wrong, wrong);
    assert!(
        wrong + signed_in <= 3,
        "at most the three free tries are verified: {statuses:?}"
    );
    assert_eq!(
        statuses.get(&429).copied().unwrap_or(0) + wrong + signed_in,
        60,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn throttled_attempts_are_audited_as_one_counted_row() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    for _ in 0..3 {
        app.login("alice", "wrong password here").await;
    }
    for _ in 0..40 {
        assert_eq!(
            app.login("alice", "wrong password here").await.status(),
            429
        );
    }
    use diesel::prelude::*;
    let rows: Vec<(String, i32)> = diesel::sql_query(
        "SELECT action, repeat_count FROM audit_events WHERE action LIKE 'login.%' ORDER BY id",
    )
    .load::<ActionCount>(&mut app.conn())
    .unwrap()
    .into_iter()
    .map(|r| (r.action, r.repeat_count))
    .collect();
    let failures: Vec<_> = rows.iter().filter(|(a, _)| a == "login.failure").collect();
    assert_eq!(failures.len(), 3, "a row per verified failure: {rows:?}");
    let throttled: Vec<i32> = rows
        .iter()
        .filter(|(a, _)| a == "login.throttled")
        .map(|(_, n)| *n)
        .collect();
    // One counted row (two only if the run straddles a quarter-hour boundary).
    assert!(throttled.len() <= 2, "{rows:?}");
    assert_eq!(throttled.iter().sum::<i32>(), 40, "{rows:?}");
}

#[derive(diesel::QueryableByName)]
struct ActionCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    repeat_count: i32,
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

#[tokio::test]
async fn rotating_logins_from_one_address_cannot_grow_the_log_or_the_counters() {
    let app = spawn_app().await;
    let spreader = app.browser_at("127.0.0.4");
    for n in 0..20 {
        spreader
            .login(&format!("first{n}"), "wrong password here")
            .await;
    }
    for n in 0..60 {
        let res = spreader
            .login(&format!("rotated{n}"), "wrong password here")
            .await;
        assert_eq!(res.status(), 429, "{n}");
    }
    let rows = crate::console::count(
        &app,
        "SELECT id FROM audit_events WHERE action = 'login.throttled'",
    );
    assert_eq!(
        rows, 1,
        "one counted row for the address, whatever logins it tries"
    );
    let buckets = crate::console::count(&app, "SELECT hits FROM throttle_buckets");
    assert_eq!(
        buckets, 21,
        "twenty logins and the address; none for the refused logins"
    );
}

/// `X-Forwarded-For` from a peer that is not a trusted proxy is ignored: spoofing a new
/// address on every attempt does not escape the throttle of the real one.
#[tokio::test]
async fn forwarded_addresses_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app().await;
    app.create_user("alice", Role::User).await;
    for n in 0..20 {
        let spoofer = app.browser_forwarded_for(&format!("192.0.2.{n}"));
        let login = format!("guess{n}");
        assert_eq!(
            spoofer.login(&login, "wrong password here").await.status(),
            401,
            "{n}"
        );
    }
    let res = app
        .browser_forwarded_for("198.51.100.1")
        .login("alice", PASSWORD)
        .await;
    assert_eq!(res.status(), 429, "the peer's own address is throttled");
}

/// Behind a trusted reverse proxy, users at different addresses do not share a throttle,
/// and the audit log records the forwarded address.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_throttle() {
    let app = spawn_app_with(Options {
        env: vec![("CONSENTRY_TRUSTED_PROXIES", "127.0.0.1/32".to_string())],
        ..Options::default()
    })
    .await;
    app.create_user("alice", Role::User).await;
    let attacker = app.browser_forwarded_for("203.0.113.66");
    for n in 0..20 {
        let login = format!("guess{n}");
        assert_eq!(
            attacker.login(&login, "wrong password here").await.status(),
            401,
            "{n}"
        );
    }
    assert_eq!(attacker.login("alice", PASSWORD).await.status(), 429);
    let alice = app.browser_forwarded_for("198.51.100.7");
    assert_eq!(alice.login("alice", PASSWORD).await.status(), 303);
    let ips: Vec<String> = {
        use consentry::db::schema::audit_events::dsl::*;
        use diesel::prelude::*;
        audit_events
            .filter(action.eq("login.success"))
            .select(ip)
            .load::<Option<String>>(&mut app.conn())
            .unwrap()
            .into_iter()
            .flatten()
            .collect()
    };
    assert_eq!(ips, ["198.51.100.7"]);
}
