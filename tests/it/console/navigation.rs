use consentry::domain::Role;

use crate::common::{nav_links, spawn_app};

const ADMIN_LINKS: [&str; 3] = [
    "/admin/settings/oauth2",
    "/admin/oauth2/clients",
    "/admin/audit",
];
const ADMIN_PAGES: [&str; 3] = [
    "/admin/settings/oauth2",
    "/admin/oauth2/clients",
    "/admin/audit",
];

#[tokio::test]
async fn superuser_sees_all_administration_navigation() {
    let app = spawn_app().await;
    app.sign_in_as("root1", Role::Superuser).await;
    let links = nav_links(&app.get_html("/").await);
    for link in ADMIN_LINKS
        .iter()
        .chain(["/account/authorized-apps", "/account/security"].iter())
    {
        assert!(links.contains(&link.to_string()), "{link} in {links:?}");
    }
    for page in ADMIN_PAGES {
        assert_eq!(app.get(page).await.status(), 200, "{page}");
    }
}

#[tokio::test]
async fn support_sees_administration_pages() {
    let app = spawn_app().await;
    app.sign_in_as("helper", Role::Support).await;
    let html = app.get_html("/").await;
    assert!(html.contains("(support)"));
    let links = nav_links(&html);
    for link in ADMIN_LINKS {
        assert!(links.contains(&link.to_string()), "{link} in {links:?}");
    }
    for page in ADMIN_PAGES {
        assert_eq!(app.get(page).await.status(), 200, "{page}");
    }
}

#[tokio::test]
async fn plain_user_sees_only_personal_pages_and_gets_403_elsewhere() {
    let app = spawn_app().await;
    app.sign_in_as("enduser", Role::User).await;
    let links = nav_links(&app.get_html("/").await);
    assert_eq!(links, ["/account/authorized-apps", "/account/security"]);
    for page in ADMIN_PAGES {
        assert_eq!(app.get(page).await.status(), 403, "{page}");
    }
    assert_eq!(app.get("/account/authorized-apps").await.status(), 200);
    assert_eq!(app.get("/account/security").await.status(), 200);
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in() {
    let app = spawn_app().await;
    for page in [
        "/",
        "/account/authorized-apps",
        "/account/security",
        "/admin/audit",
    ] {
        let res = app.get(page).await;
        assert_eq!(res.status(), 303, "{page}");
        assert!(
            res.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?next=")
        );
    }
    let json = app
        .client
        .get(app.url("/admin/audit"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 401);
    assert!(json.text().await.unwrap().contains("\"error\""));
}

#[tokio::test]
async fn audit_log_lists_sign_in_events() {
    let app = spawn_app().await;
    app.create_user("intruder-target", Role::User).await;
    app.login("intruder-target", "wrong password here").await;
    app.sign_in_as("root1", Role::Superuser).await;
    let html = app.get_html("/admin/audit").await;
    assert!(html.contains("login.failure"));
    assert!(html.contains("login.success"));
    assert!(html.contains("127.0.0.1"));
}
