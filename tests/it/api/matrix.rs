//! Every method × every scope × every user level: the effective permission on a site is the
//! lower of the token's scope and the user's own level.

use consentry::domain::{AccessLevel, Role, Scope};

use super::{api, world};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Level {
    None,
    View,
    Write,
    Admin,
    Superuser,
}

/// What a method needs: any valid token, a level on site 1 (1 view, 2 write, 3 admin), or
/// a superuser with a `matomo:superuser` token.
#[derive(Debug, Clone, Copy)]
enum Need {
    Any,
    Site(u8),
    Superuser,
}

fn effective(level: Level, scope: Scope) -> u8 {
    let own = match level {
        Level::None => 0,
        Level::View => 1,
        Level::Write => 2,
        Level::Admin | Level::Superuser => 3,
    };
    let cap = match scope {
        Scope::Read => 1,
        Scope::Write => 2,
        Scope::Admin | Scope::Superuser => 3,
    };
    own.min(cap)
}

fn allowed(need: Need, level: Level, scope: Scope) -> bool {
    match need {
        Need::Any => true,
        Need::Site(n) => effective(level, scope) >= n,
        Need::Superuser => level == Level::Superuser && scope == Scope::Superuser,
    }
}

fn needed_scope(need: Need) -> &'static str {
    match need {
        Need::Any => unreachable!("never refused"),
        Need::Site(1) => "matomo:read",
        Need::Site(2) => "matomo:write",
        Need::Site(_) => "matomo:admin",
        Need::Superuser => "matomo:superuser",
    }
}

#[tokio::test]
async fn every_method_scope_and_user_level_gets_exactly_the_lower_of_scope_and_level() {
    let w = world().await;
    w.app.create_user("target", Role::User).await;
    let s1 = w.site1;
    let methods: Vec<(&str, String, Need)> = vec![
        ("API.getConsentryVersion", String::new(), Need::Any),
        (
            "SitesManager.getSitesWithAtLeastViewAccess",
            String::new(),
            Need::Any,
        ),
        (
            "SitesManager.getSiteFromId",
            format!("idSite={s1}"),
            Need::Site(1),
        ),
        ("Annotations.getAll", format!("idSite={s1}"), Need::Site(1)),
        (
            "Annotations.add",
            format!("idSite={s1}&date=2026-11-24&note=Launch"),
            Need::Site(2),
        ),
        (
            "SitesManager.updateSite",
            format!("idSite={s1}&siteName=Shop&urls=https://shop.example"),
            Need::Site(3),
        ),
        (
            "UsersManager.setUserAccess",
            format!("userLogin=target&access=view&idSites={s1}"),
            Need::Site(3),
        ),
        (
            "SitesManager.addSite",
            "siteName=New&urls=https://new.example".into(),
            Need::Superuser,
        ),
        ("UsersManager.getUsers", String::new(), Need::Superuser),
    ];
    let users = [
        ("nobody", Level::None, Role::User, None),
        ("viewer", Level::View, Role::User, Some(AccessLevel::View)),
        ("writer", Level::Write, Role::User, Some(AccessLevel::Write)),
        (
            "siteadmin",
            Level::Admin,
            Role::Support,
            Some(AccessLevel::Admin),
        ),
        ("root", Level::Superuser, Role::Superuser, None),
    ];
    let mut checked = 0;
    for (login, level, role, access) in users {
        let browser = w.user(login, role, access).await;
        let scopes: &[Scope] = if level == Level::Superuser {
            &Scope::ALL
        } else {
            // Only a superuser may approve matomo:superuser.
            &[Scope::Read, Scope::Write, Scope::Admin]
        };
        for &scope in scopes {
            let token = w.token(&browser, scope).await;
            for (method, query, need) in &methods {
                let a = api(&w.app, Some(&token), method, query).await;
                let case = format!("{login} ({level:?}) with {scope} calling {method}");
                if allowed(*need, level, scope) {
                    assert_eq!(a.status, 200, "{case}: {}", a.body);
                } else {
                    assert_eq!(a.status, 403, "{case}: {}", a.body);
                    let challenge = a.challenge.unwrap_or_default();
                    assert!(
                        challenge.contains("error=\"insufficient_scope\"")
                            && challenge.contains(&format!("scope=\"{}\"", needed_scope(*need))),
                        "{case}: {challenge}"
                    );
                }
                checked += 1;
            }
            let sites = api(
                &w.app,
                Some(&token),
                "SitesManager.getSitesWithAtLeastViewAccess",
                "",
            )
            .await;
            let ids: Vec<i64> = sites
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["idsite"].as_i64().unwrap())
                .collect();
            match level {
                Level::Superuser => {
                    assert!(ids.contains(&w.site1) && ids.contains(&w.site2), "{ids:?}")
                }
                Level::None => assert!(ids.is_empty(), "{login}: {ids:?}"),
                _ => assert_eq!(ids, vec![w.site1], "{login} with {scope}"),
            }
            // Nobody but a superuser sees site 2.
            let other = api(
                &w.app,
                Some(&token),
                "SitesManager.getSiteFromId",
                &format!("idSite={}", w.site2),
            )
            .await;
            assert_eq!(
                other.status,
                if level == Level::Superuser { 200 } else { 403 },
                "{login}"
            );
        }
    }
    assert_eq!(checked, 9 * (4 * 3 + 4));
}

#[tokio::test]
async fn a_superuser_token_of_a_user_who_is_no_longer_superuser_gets_only_their_levels() {
    let w = world().await;
    let browser = w.user("formerroot", Role::Superuser, None).await;
    let token = w.token(&browser, Scope::Superuser).await;
    assert_eq!(
        api(&w.app, Some(&token), "UsersManager.getUsers", "")
            .await
            .status,
        200
    );
    crate::protocol::sql(
        &w.app,
        "UPDATE users SET role = 'user' WHERE login = 'formerroot'",
    );
    w.set_access("formerroot", w.site1, Some(AccessLevel::View))
        .await;
    let s1 = format!("idSite={}", w.site1);
    assert_eq!(
        api(&w.app, Some(&token), "UsersManager.getUsers", "")
            .await
            .status,
        403
    );
    assert_eq!(
        api(&w.app, Some(&token), "SitesManager.getSiteFromId", &s1)
            .await
            .status,
        200
    );
    let add = api(
        &w.app,
        Some(&token),
        "Annotations.add",
        &format!("{s1}&date=2026-11-24&note=x"),
    )
    .await;
    assert_eq!(add.status, 403);
    let sites = api(
        &w.app,
        Some(&token),
        "SitesManager.getSitesWithAtLeastViewAccess",
        "",
    )
    .await;
    assert_eq!(sites.body.as_array().unwrap().len(), 1);
    let add = api(
        &w.app,
        Some(&token),
        "SitesManager.addSite",
        "siteName=X&urls=https://x.example",
    )
    .await;
    assert_eq!(add.status, 403);
}

#[tokio::test]
async fn a_site_admin_cannot_reach_other_sites_or_learn_about_other_users() {
    let w = world().await;
    w.app.create_user("colleague", Role::User).await;
    let browser = w
        .user("siteadmin", Role::User, Some(AccessLevel::Admin))
        .await;
    w.user("boss", Role::Superuser, None).await;
    let token = w.token(&browser, Scope::Admin).await;
    let both = format!(
        "userLogin=colleague&access=admin&idSites={},{}",
        w.site1, w.site2
    );
    let a = api(&w.app, Some(&token), "UsersManager.setUserAccess", &both).await;
    assert_eq!(a.status, 403);
    let colleague = "SELECT user_id FROM site_access WHERE user_id = (SELECT id FROM users WHERE login = 'colleague')";
    assert_eq!(
        crate::console::count(&w.app, colleague),
        0,
        "all or nothing"
    );
    // A missing site and a forbidden one look the same.
    let missing = api(
        &w.app,
        Some(&token),
        "SitesManager.getSiteFromId",
        "idSite=999",
    )
    .await;
    let forbidden = api(
        &w.app,
        Some(&token),
        "SitesManager.getSiteFromId",
        &format!("idSite={}", w.site2),
    )
    .await;
    assert_eq!((missing.status, forbidden.status), (403, 403));
    // Unknown logins and superusers get the same answer.
    let s1 = w.site1;
    let ghost = api(
        &w.app,
        Some(&token),
        "UsersManager.setUserAccess",
        &format!("userLogin=ghost&access=view&idSites={s1}"),
    )
    .await;
    let boss = api(
        &w.app,
        Some(&token),
        "UsersManager.setUserAccess",
        &format!("userLogin=boss&access=view&idSites={s1}"),
    )
    .await;
    assert_eq!((ghost.status, boss.status), (400, 400));
    assert_eq!(ghost.body["message"], boss.body["message"]);
    // Within their site it works, duplicates included.
    let ok = api(
        &w.app,
        Some(&token),
        "UsersManager.setUserAccess",
        &format!("userLogin=colleague&access=view&idSites={s1},{s1}"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(crate::console::count(&w.app, colleague), 1);
    let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let a = api(
        &w.app,
        Some(&token),
        "UsersManager.setUserAccess",
        &format!(
            "userLogin=colleague&access=view&idSites={}",
            too_many.join(",")
        ),
    )
    .await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn removing_access_applies_to_the_next_call_and_client_credentials_act_as_the_owner() {
    let w = world().await;
    let browser = w.user("viewer", Role::User, Some(AccessLevel::Admin)).await;
    let token = w.token(&browser, Scope::Admin).await;
    let s1 = format!("idSite={}", w.site1);
    let add = format!("{s1}&date=2026-11-24&note=Campaign%20start");
    assert_eq!(
        api(&w.app, Some(&token), "Annotations.add", &add)
            .await
            .status,
        200
    );
    w.set_access("viewer", w.site1, Some(AccessLevel::View))
        .await;
    assert_eq!(
        api(&w.app, Some(&token), "Annotations.add", &add)
            .await
            .status,
        403
    );
    let notes = api(&w.app, Some(&token), "Annotations.getAll", &s1).await;
    assert_eq!(notes.body[0]["note"], "Campaign start");
    assert_eq!(notes.body[0]["user"], "viewer");
    w.set_access("viewer", w.site1, None).await;
    assert_eq!(
        api(&w.app, Some(&token), "SitesManager.getSiteFromId", &s1)
            .await
            .status,
        403
    );

    // The client's owner is a superuser: a client-credentials token acts as them.
    let (status, body) = crate::protocol::token(
        &w.app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &w.client.id),
            ("client_secret", w.client.secret()),
            ("scope", "matomo:superuser"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let machine = body["access_token"].as_str().unwrap();
    let users = api(&w.app, Some(machine), "UsersManager.getUsers", "").await;
    assert_eq!(users.status, 200);
    let logins: Vec<&str> = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    assert!(logins.contains(&"owner") && logins.contains(&"viewer"));
    assert!(
        !users.body.to_string().contains("argon2"),
        "no password hashes"
    );
    let added = api(
        &w.app,
        Some(machine),
        "SitesManager.addSite",
        "siteName=Docs&urls=https://docs.example",
    )
    .await;
    assert_eq!(added.status, 200);
    let id = added.body["value"].as_i64().unwrap();
    let site = api(
        &w.app,
        Some(machine),
        "SitesManager.getSiteFromId",
        &format!("idSite={id}"),
    )
    .await;
    assert_eq!(
        (site.body["name"].as_str(), site.body["main_url"].as_str()),
        (Some("Docs"), Some("https://docs.example"))
    );
}
