//! Administration > Websites and Administration > System > Users (superusers only).

use consentry::domain::Role;

use super::{last_event, superuser_app};
use crate::common::{FormData, PASSWORD, spawn_app, text_of};
use crate::protocol::location;

fn access_of(app: &crate::common::TestApp, login: &str) -> Vec<(i64, String)> {
    use consentry::db::schema::{site_access::dsl as a, users::dsl as u};
    use diesel::prelude::*;
    a::site_access
        .inner_join(u::users)
        .filter(u::login.eq(login))
        .select((a::site_id, a::access))
        .load(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_superuser_creates_and_edits_websites_with_field_errors_kept() {
    let app = superuser_app().await;
    let new = "/admin/websites/new";
    let bad = app
        .form(new, new)
        .await
        .set("name", "")
        .set("url", "ftp://x.example");
    let res = app.submit(&bad).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    crate::common::assert_valid_html(&html);
    assert!(text_of(&html, "#name-error").is_some());
    assert!(text_of(&html, "#url-error").unwrap().contains("http"));
    assert_eq!(
        FormData::from_page(&html, new).get("url"),
        Some("ftp://x.example")
    );

    let form = app
        .form(new, new)
        .await
        .set("name", "Shop")
        .set("url", "https://shop.example");
    let res = app.submit(&form).await;
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, "/admin/websites".into())
    );
    let list = app.page("/admin/websites").await;
    assert!(
        text_of(&list, ".flash")
            .unwrap()
            .contains("created with ID 1")
    );
    assert!(list.contains("https://shop.example"));
    let edit = app
        .form("/admin/websites/1", "/admin/websites/1")
        .await
        .set("name", "Web shop");
    assert_eq!(app.submit(&edit).await.status(), 303);
    assert!(app.page("/admin/websites").await.contains("Web shop"));
    let (actor, details, _) = last_event(&app, "site.updated");
    assert_eq!(actor, "root1");
    assert_eq!(details["old"]["name"], "Shop");
    assert_eq!(details["new"]["name"], "Web shop");
    assert_eq!(app.get("/admin/websites/99").await.status(), 404);
}

#[tokio::test]
async fn a_superuser_creates_users_sets_roles_resets_passwords_and_site_access() {
    let app = superuser_app().await;
    let new = "/admin/users/new";
    let bad = app
        .form(new, new)
        .await
        .set("login", "-bad")
        .set("email", "nope")
        .set("password", "short");
    let res = app.submit(&bad).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    for field in ["login", "email", "password"] {
        assert!(
            text_of(&html, &format!("#{field}-error")).is_some(),
            "{field}"
        );
    }
    assert_eq!(FormData::from_page(&html, new).get("login"), Some("-bad"));
    let taken = app
        .form(new, new)
        .await
        .set("login", "root1")
        .set("email", "r@example.com")
        .set("password", PASSWORD)
        .set("confirm_password", PASSWORD);
    let res = app.submit(&taken).await;
    assert_eq!(res.status(), 422);
    assert!(
        text_of(&res.text().await.unwrap(), "#login-error")
            .unwrap()
            .contains("taken")
    );

    let form = app
        .form(new, new)
        .await
        .set("login", "analyst")
        .set("email", "analyst@example.com")
        .set("role", "user")
        .set("password", PASSWORD)
        .set("confirm_password", PASSWORD);
    let res = app.submit(&form).await;
    assert_eq!(location(&res), "/admin/users/analyst");
    let page = "/admin/users/analyst";
    let html = app.page(page).await;
    let flash = text_of(&html, ".flash").unwrap();
    assert!(flash.contains("analyst was created"), "{flash}");
    // A website to give access to.
    let site = app.form("/admin/websites/new", "/admin/websites/new").await;
    app.submit(&site.set("name", "Shop").set("url", "https://shop.example"))
        .await;

    let html = app.page(page).await;
    let access = FormData::from_page(&html, "/admin/users/analyst/access").set("access", "write");
    assert_eq!(app.submit(&access).await.status(), 303);
    assert_eq!(access_of(&app, "analyst"), vec![(1, "write".to_string())]);
    let html = app.page(page).await;
    assert!(html.contains("<td>write</td>"));
    let (_, details, _) = last_event(&app, "site.access_changed");
    assert_eq!(
        (details["old"].clone(), details["new"].clone()),
        (serde_json::Value::Null, "write".into())
    );
    let remove =
        FormData::from_page(&html, "/admin/users/analyst/access").set("access", "noaccess");
    app.submit(&remove).await;
    assert!(access_of(&app, "analyst").is_empty());

    let role = FormData::from_page(&app.page(page).await, "/admin/users/analyst/role")
        .set("role", "support");
    // Without the superuser's own password, nothing changes.
    let res = app.submit(&role).await;
    assert_eq!(res.status(), 422);
    assert!(text_of(&res.text().await.unwrap(), "#confirm_password-error").is_some());
    assert!(
        !app.audit_actions()
            .contains(&"user.role_changed".to_string())
    );
    let role = role.set("confirm_password", PASSWORD);
    assert_eq!(app.submit(&role).await.status(), 303);
    assert_eq!(last_event(&app, "user.role_changed").1["new"], "support");

    let reset = FormData::from_page(&app.page(page).await, "/admin/users/analyst/password")
        .set("password", "short");
    assert_eq!(app.submit(&reset).await.status(), 422);
    let reset = FormData::from_page(&app.page(page).await, "/admin/users/analyst/password")
        .set("password", "a brand new long password")
        .set("reset_confirm_password", PASSWORD);
    assert_eq!(app.submit(&reset).await.status(), 303);
    let actions = app.audit_actions();
    for action in [
        "user.created",
        "user.password_changed",
        "user.role_changed",
        "site.created",
    ] {
        assert!(actions.contains(&action.to_string()), "{action}");
    }
    let other = app.new_browser();
    assert_eq!(
        other
            .login("analyst", "a brand new long password")
            .await
            .status(),
        303
    );

    // The last superuser keeps the role.
    let demote = FormData::from_page(
        &app.page("/admin/users/root1").await,
        "/admin/users/root1/role",
    )
    .set("role", "user")
    .set("confirm_password", PASSWORD);
    let res = app.submit(&demote).await;
    assert_eq!(res.status(), 422);
    assert!(
        text_of(&res.text().await.unwrap(), "#role-error")
            .unwrap()
            .contains("last superuser")
    );
}

#[tokio::test]
async fn support_and_users_cannot_open_websites_or_users() {
    for (login, role) in [("helper", Role::Support), ("enduser", Role::User)] {
        let app = spawn_app().await;
        app.sign_in_as(login, role).await;
        for path in [
            "/admin/websites",
            "/admin/websites/new",
            "/admin/users",
            "/admin/users/new",
        ] {
            assert_eq!(app.get(path).await.status(), 403, "{login}: {path}");
        }
        let token = app.csrf_token("/account/authorized-apps").await;
        for (path, fields) in [
            ("/admin/users/root/role", vec![("role", "superuser")]),
            (
                "/admin/users/new",
                vec![
                    ("login", "mole"),
                    ("email", "m@example.com"),
                    ("role", "superuser"),
                    ("password", PASSWORD),
                ],
            ),
            (
                "/admin/websites/new",
                vec![("name", "X"), ("url", "https://x.example")],
            ),
            (
                "/admin/users/root/access",
                vec![("site", "1"), ("access", "admin")],
            ),
        ] {
            assert_eq!(
                app.post_form(path, &token, &fields).await.status(),
                403,
                "{login}: {path}"
            );
        }
        assert_eq!(super::count(&app, "SELECT id FROM sites"), 0);
        assert_eq!(super::count(&app, "SELECT id FROM users"), 1);
        assert!(
            !crate::common::nav_links(&app.get_html("/").await)
                .contains(&"/admin/users".to_string())
        );
    }
}

#[tokio::test]
async fn user_and_website_forms_need_the_csrf_token() {
    let app = superuser_app().await;
    let form = app
        .form("/admin/websites/new", "/admin/websites/new")
        .await
        .set("name", "Shop")
        .set("url", "https://shop.example")
        .remove("csrf_token");
    assert_eq!(app.submit(&form).await.status(), 403);
    assert_eq!(super::count(&app, "SELECT id FROM sites"), 0);
}
